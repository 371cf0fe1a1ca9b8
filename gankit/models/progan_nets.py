"""Progressive GAN's networks (Karras et al., 2018): G and D that grow from 4×4 to the target
resolution, a block at a time, each new block faded in.

Both networks hold every resolution's layers from the start; `grow(level, alpha)` says how much
of them runs: resolution 4·2^level, with the newest block mixed in by `alpha` (0: the network
computes exactly what the smaller one did, 1: the new block alone). The optimisers therefore see
one fixed set of parameters, a checkpoint one fixed set of tensors, and a run resumed mid-fade
carries on from the same level and alpha (kept as the networks' extra state).

The paper's stabilisers: every layer's weights are drawn from N(0, 1) and scaled at run time
by He's constant √(2 / fan-in) (equalised learning rate: Adam then moves every layer at the same
pace); G normalises each pixel's feature vector to unit mean square after every convolution; D
appends the minibatch standard deviation as a feature map before its last block.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..diversity import MinibatchStdDev


class EqualizedLinear(nn.Module):
    """A linear layer with N(0, 1) weights multiplied by gain/√fan-in at every call."""

    def __init__(self, n_in: int, n_out: int, gain: float = math.sqrt(2)) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.scale = gain / math.sqrt(n_in)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv2d(nn.Module):
    """A k×k convolution (same padding) with N(0, 1) weights multiplied by gain/√(C_in·k²) at every call."""

    def __init__(self, n_in: int, n_out: int, kernel: int, gain: float = math.sqrt(2), padding: int | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.scale = gain / math.sqrt(n_in * kernel * kernel)
        self.padding = kernel // 2 if padding is None else padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """Each pixel's feature vector divided by its root mean square (over channels), plus ε."""

    def forward(self, x: Tensor) -> Tensor:
        return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


def upsample(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def downsample(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2)


class Growing(nn.Module):
    """What both networks share: the level and fade-in they run at. Both live in the persistent
    buffer `growth` = [level, alpha], saved with the weights (checkpoints and generator files
    alike), and in Python attributes that decide which layers run without reading the device."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        self.levels, self.level, self.stage_alpha = levels, levels - 1, 1.0
        self.register_buffer("growth", torch.tensor([levels - 1.0, 1.0]))

    @property
    def alpha(self) -> Tensor:
        """The newest block's weight, a 0-d tensor on the device."""
        return self.growth[1]

    @property
    def fading(self) -> bool:
        """Whether the newest block is still fading in (its weight, on the host, below 1)."""
        return self.stage_alpha < 1

    def grow(self, level: int, alpha: float) -> None:
        """Run at resolution 4·2^level with the newest block weighted by `alpha` (written in
        place, with no host synchronisation, and only when the stage changed: a stable phase
        adds no work to the iteration)."""
        before = (self.level, self.stage_alpha)
        self._follow(level, alpha)
        if (self.level, self.stage_alpha) != before:
            self.growth[0].fill_(self.level)
            self.growth[1].fill_(self.stage_alpha)

    def _follow(self, level: int, alpha: float) -> None:
        """Set the level and the newest block's weight on the host: `alpha` while a level above
        4×4 fades in, 1 once it has (and always at 4×4, which has nothing to fade from)."""
        if not 0 <= level < self.levels:
            raise ValueError(f"level {level} is outside 0…{self.levels - 1}")
        self.level, self.stage_alpha = level, float(alpha) if level > 0 and alpha < 1 else 1.0

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        level, alpha = self.growth.tolist()  # once per load: the layers to run follow the saved stage
        self._follow(int(level), alpha)

    @property
    def resolution(self) -> int:
        return 4 * 2**self.level


def widths(levels: int, width: int, fmap_base: int) -> list[int]:
    """Channels at each level: min(width, fmap_base / resolution), as the paper's nf()."""
    return [max(1, min(width, fmap_base // (4 * 2**k))) for k in range(levels)]


class ProGenerator(Growing):
    """z → C×r×r at the current resolution r (4·2^level); images at the last level are full size."""

    def __init__(self, latent_dim: int, channels: int, levels: int, width: int = 512, fmap_base: int = 8192):
        super().__init__(levels)
        nf = widths(levels, width, fmap_base)
        self.norm = PixelNorm()
        self.first = EqualizedLinear(latent_dim, nf[0] * 16, gain=math.sqrt(2) / 4)  # as a 4×4 transposed conv
        self.first_conv = EqualizedConv2d(nf[0], nf[0], 3)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(nf[k - 1], nf[k], 3), EqualizedConv2d(nf[k], nf[k], 3)])
            for k in range(1, levels)
        )
        self.to_rgb = nn.ModuleList(EqualizedConv2d(n, channels, 1, gain=1.0) for n in nf)
        self.width0 = nf[0]

    def forward(self, z: Tensor) -> Tensor:
        h = self.norm(_act(self.first(self.norm(z)).unflatten(1, (self.width0, 4, 4))))
        h = self.norm(_act(self.first_conv(h)))
        previous = h
        for conv1, conv2 in self.blocks[: self.level]:
            previous = h
            h = self.norm(_act(conv2(self.norm(_act(conv1(upsample(h)))))))
        image = self.to_rgb[self.level](h)
        if self.fading:  # the new block's image, mixed with the last level's, enlarged
            image = torch.lerp(upsample(self.to_rgb[self.level - 1](previous)), image, self.alpha)
        return image


class ProDiscriminator(Growing):
    """C×r×r at the current resolution → a critic's score."""

    def __init__(self, channels: int, levels: int, width: int = 512, fmap_base: int = 8192, group: int = 4):
        super().__init__(levels)
        nf = widths(levels, width, fmap_base)
        self.from_rgb = nn.ModuleList(EqualizedConv2d(channels, n, 1) for n in nf)
        self.blocks = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(nf[k], nf[k], 3), EqualizedConv2d(nf[k], nf[k - 1], 3)])
            for k in range(1, levels)
        )
        self.mbstd = MinibatchStdDev(group)
        self.last_conv = EqualizedConv2d(nf[0] + 1, nf[0], 3)
        self.last_dense = EqualizedConv2d(nf[0], nf[0], 4, padding=0)  # the 4×4 map to one vector
        self.out = EqualizedLinear(nf[0], 1, gain=1.0)

    def forward(self, x: Tensor) -> Tensor:
        h = _act(self.from_rgb[self.level](x))
        for k in range(self.level, 0, -1):
            conv1, conv2 = self.blocks[k - 1]
            h = downsample(_act(conv2(_act(conv1(h)))))
            if k == self.level and self.fading:  # the new block's features, mixed with the last level's
                h = torch.lerp(_act(self.from_rgb[k - 1](downsample(x))), h, self.alpha)
        h = _act(self.last_conv(self.mbstd(h)))
        return self.out(_act(self.last_dense(h)).flatten(1)).flatten()
