"""BigGAN (Brock et al., 2019): SAGAN scaled up, with the latent vector fed into every block.

G splits its noise z into one chunk for its first linear layer and one per residual up-block;
each block's batch norms take their gain and shift from a linear map of [shared class embedding,
its chunk of z] (hierarchical latents with a shared embedding), so noise and class steer every
resolution. D is SN-GAN's projection discriminator with self-attention (`models/resnet.py`).
Both networks start from orthogonal weights; G's weights are pushed towards orthogonal rows
during training (`OrthogonalRegulariser`), which makes the truncation trick work smoothly.
The game is the class-conditional one without mismatched labels (`ProjectionGAN`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import TargetInfo
from ..errors import ConfigError
from ..games import ProjectionGAN, StandardGAN
from ..layers import SelfAttention
from ..recipe import Latent, Player
from .common import class_count, output_layer
from .dcgan import plan
from .resnet import ResNetDiscriminator, attention_sizes, image_head


class ConditionedBatchNorm(nn.Module):
    """Batch norm whose gain (1 + ·) and shift are linear maps of a conditioning vector."""

    def __init__(self, channels: int, condition_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(condition_dim, channels, bias=False)
        self.shift = nn.Linear(condition_dim, channels, bias=False)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        gain, shift = 1 + self.gain(condition), self.shift(condition)
        return self.norm(x) * gain[:, :, None, None] + shift[:, :, None, None]


class BigGANBlock(nn.Module):
    """Residual up-block: cBN-ReLU-up-conv3-cBN-ReLU-conv3, plus up-conv1, both cBNs conditioned."""

    def __init__(self, n_in: int, n_out: int, condition_dim: int) -> None:
        super().__init__()
        self.norm1 = ConditionedBatchNorm(n_in, condition_dim)
        self.norm2 = ConditionedBatchNorm(n_out, condition_dim)
        self.conv1 = nn.Conv2d(n_in, n_out, 3, padding=1)
        self.conv2 = nn.Conv2d(n_out, n_out, 3, padding=1)
        self.skip = nn.Conv2d(n_in, n_out, 1)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.norm1(x, condition)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), condition)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class BigGANGenerator(nn.Module):
    """(z, class) → C×R×R: z split into chunks, one for the first layer and one per up-block."""

    def __init__(
        self,
        latent_dim: int,
        channels: int,
        resolution: int,
        width: int = 256,
        num_classes: int = 0,
        shared_dim: int = 128,
        attention: int = 0,
        output: nn.Module | None = None,
    ) -> None:
        super().__init__()
        base, doublings = plan(resolution)
        if latent_dim < doublings + 1:
            raise ConfigError(f"model.latent_dim = {latent_dim} cannot be split over BigGAN's {doublings + 1} "
                              f"inputs at {resolution} px (one per up-block and one for the first layer); "
                              f"use at least {doublings + 1}")  # fmt: skip
        self.base, self.width, self.chunks = base, width, doublings + 1
        sizes = [len(c) for c in torch.arange(latent_dim).tensor_split(self.chunks)]
        self.shared = nn.Embedding(num_classes, shared_dim) if num_classes else None
        shared = shared_dim if num_classes else 0
        self.linear = nn.Linear(sizes[0], width * base * base)
        blocks: list[nn.Module] = []
        size = base
        for chunk in sizes[1:]:
            blocks.append(BigGANBlock(width, width, shared + chunk))
            size *= 2
            if size == attention and size != resolution:
                blocks.append(SelfAttention(width))
        self.blocks = nn.ModuleList(blocks)
        self.out = image_head(width, channels, output)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        first, *chunks = z.tensor_split(self.chunks, dim=1)
        shared = self.shared(labels) if self.shared is not None else None
        h = self.linear(first).unflatten(1, (self.width, self.base, self.base))
        for block in self.blocks:
            if isinstance(block, BigGANBlock):
                chunk = chunks.pop(0)
                h = block(h, chunk if shared is None else torch.cat([shared, chunk], dim=1))
            else:
                h = block(h)
        return self.out(h)


def init_orthogonal(module: nn.Module) -> None:
    """Orthogonal weights (rows of each layer's weight matrix orthonormal) and zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding)):
            nn.init.orthogonal_(m.weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


class OrthogonalRegulariser:
    """BigGAN's orthogonal regularisation of weight matrices W (out × in, convolutions flattened):
    R(W) = β/2 · ‖W Wᵀ ⊙ (1 − I)‖²_F, which pushes rows towards orthogonality without fixing
    their norms. Its gradient, 2β (W Wᵀ ⊙ (1 − I)) W, is added to the weights' gradients
    directly (as the authors' code does; the paper writes the norm without the ½), so the
    regulariser costs one small matrix product per layer and no extra graph."""

    def __init__(self, weights: Iterable[nn.Parameter], beta: float) -> None:
        self.weights = [w for w in weights if w.dim() >= 2]
        self.beta = beta

    def value(self) -> Tensor:
        """R summed over the weights (for tests and logs)."""
        total = sum(
            ((m @ m.T) * (1 - torch.eye(len(m), device=m.device))).square().sum()
            for m in (w.flatten(1) for w in self.weights)
        )
        return 0.5 * self.beta * torch.as_tensor(total)

    @torch.no_grad()
    def __call__(self) -> None:
        for w in self.weights:
            if w.grad is None:
                continue
            m = w.flatten(1)
            gram = m @ m.T
            gram.fill_diagonal_(0)
            w.grad.add_((gram @ m).view_as(w), alpha=2 * self.beta)


class OrthogonalG:
    """Mixed into a game: G's every update ends with the orthogonal regulariser of strength `ortho`."""

    ortho = 0.0
    nets: nn.ModuleDict

    def players(self) -> list[Player]:
        players = super().players()  # type: ignore[misc]
        if self.ortho > 0:  # embeddings are lookup tables, not layers: left free, as the authors leave theirs
            tables = {id(p) for m in self.nets["G"].modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
            weights = [p for p in self.nets["G"].parameters() if id(p) not in tables]
            for player in players:
                if player.name == "G":
                    player.before_step = OrthogonalRegulariser(weights, self.ortho)
        return players


class BigGAN(OrthogonalG, ProjectionGAN):
    """BigGAN's game: class-conditional with a projection D, G orthogonally regularised."""


class UnconditionalBigGAN(OrthogonalG, StandardGAN):
    """BigGAN's networks without classes (model.conditional = false): G's chunks of z alone drive its norms."""


def build_biggan(config: dict[str, Any], target: TargetInfo) -> StandardGAN:
    m = config["model"]
    if len(target.shape) != 3 or target.shape[1] != target.shape[2]:
        raise ConfigError(f"model biggan builds square images (C×R×R); data.target {config['data']['target']} "
                          f"gives samples of shape {tuple(target.shape)}")  # fmt: skip
    classes = class_count(m, target)
    channels, resolution = target.shape[0], target.shape[1]
    if m["attention"] and m["attention"] not in attention_sizes(resolution):
        sizes = ", ".join(map(str, attention_sizes(resolution))) or "none"
        raise ConfigError(f"model.attention must be 0 or a feature-map size of {resolution}-px images: {sizes}")
    generator = BigGANGenerator(m["latent_dim"], channels, resolution, m["g_width"], classes, m["shared_dim"],
                                m["attention"], output_layer(target))  # fmt: skip
    discriminator = ResNetDiscriminator(channels, resolution, m["d_width"], classes, m["attention"])
    init_orthogonal(generator)
    init_orthogonal(discriminator)
    game = UnconditionalBigGAN.from_config(generator, discriminator, Latent(m["latent_dim"]), config, classes,
                                           target.class_frequencies, conditional=BigGAN)  # fmt: skip
    game.ortho = m["ortho"]
    return game
