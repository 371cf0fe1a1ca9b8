"""Building blocks of the stabilised GAN family: self-attention (SAGAN), class-conditional batch
norm and residual blocks (SN-GAN, BigGAN), and spectral normalisation of whole networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

SPECTRAL_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Divide the weight of every linear, convolution and embedding layer by its largest singular
    value (one power iteration per forward pass in training, as Miyato et al.)."""
    for child in list(module.modules()):
        if isinstance(child, SPECTRAL_LAYERS) and not hasattr(child, "parametrizations"):
            spectral_norm(child)
    return module


class SelfAttention(nn.Module):
    """SAGAN's self-attention: every position attends to every other; x + γ·o with γ starting at 0,
    so the block starts as the identity and learns how much long-range context to mix in."""

    def __init__(self, channels: int, key_ratio: int = 8) -> None:
        super().__init__()
        inner = max(1, channels // key_ratio)
        self.query = nn.Conv2d(channels, inner, 1, bias=False)
        self.key = nn.Conv2d(channels, inner, 1, bias=False)
        self.value = nn.Conv2d(channels, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention(self, x: Tensor) -> Tensor:
        """B × (H·W) × (H·W) weights; row i is a distribution over the positions i attends to."""
        q = self.query(x).flatten(2).transpose(1, 2)  # B, N, C'
        k = self.key(x).flatten(2)  # B, C', N
        return F.softmax(q @ k, dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        v = self.value(x).flatten(2)  # B, C, N
        out = (v @ self.attention(x).transpose(1, 2)).view(b, c, h, w)
        return x + self.gamma * out


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are looked up per class (gains start at 1, shifts at 0)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        return self.norm(x) * self.gain(labels)[:, :, None, None] + self.bias(labels)[:, :, None, None]


class GeneratorBlock(nn.Module):
    """SN-GAN's up-sampling residual block: (c)BN-ReLU-up-conv3-(c)BN-ReLU-conv3, plus up-conv1."""

    def __init__(self, n_in: int, n_out: int, num_classes: int = 0) -> None:
        super().__init__()
        self.norm1 = ConditionalBatchNorm2d(n_in, num_classes) if num_classes else nn.BatchNorm2d(n_in)
        self.norm2 = ConditionalBatchNorm2d(n_out, num_classes) if num_classes else nn.BatchNorm2d(n_out)
        self.conv1 = nn.Conv2d(n_in, n_out, 3, padding=1)
        self.conv2 = nn.Conv2d(n_out, n_out, 3, padding=1)
        self.skip = nn.Conv2d(n_in, n_out, 1)
        self.conditional = num_classes > 0

    def _norm(self, norm: nn.Module, x: Tensor, labels: Tensor | None) -> Tensor:
        return norm(x, labels) if self.conditional else norm(x)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = F.interpolate(F.relu(self._norm(self.norm1, x, labels)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self._norm(self.norm2, self.conv1(h), labels)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class DiscriminatorBlock(nn.Module):
    """SN-GAN's residual block for D: [ReLU]-conv3-ReLU-conv3-[avg-pool], plus conv1-[avg-pool].

    The first block of D (`first`) takes the image itself, so it starts without a ReLU."""

    def __init__(self, n_in: int, n_out: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(n_in, n_out, 3, padding=1)
        self.conv2 = nn.Conv2d(n_out, n_out, 3, padding=1)
        self.skip = nn.Conv2d(n_in, n_out, 1) if n_in != n_out or downsample else None
        self.downsample, self.first = downsample, first

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        skip = x
        if self.first:  # pool first: the shortcut of the optimised block
            skip = F.avg_pool2d(skip, 2) if self.downsample else skip
            skip = self.skip(skip) if self.skip is not None else skip
        else:
            skip = self.skip(skip) if self.skip is not None else skip
            skip = F.avg_pool2d(skip, 2) if self.downsample else skip
        return (F.avg_pool2d(h, 2) if self.downsample else h) + skip


class ResidualMLPBlock(nn.Module):
    """h + W₂·act(W₁·act(h)): the residual block of the ResNet models on vector data."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, h: Tensor) -> Tensor:
        return h + self.net(h)
