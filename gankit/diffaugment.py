"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): D sees every image, real and generated,
through the same random transforms, and G's gradient flows back through them.

A discriminator trained on few images memorises them; augmenting only the real ones would teach G
to produce augmented images. Augmenting both sides, differentiably, keeps D from memorising while
G still learns the un-augmented distribution. Three policies, each applied per sample:

- `color`: brightness + U(−½, ½), saturation × U(0, 2) about each pixel's channel mean, contrast
  × U(½, 3/2) about the image's mean (for images in [−1, 1]);
- `translation`: a shift of up to ⅛ of the image in each direction, filled with zeros;
- `cutout`: a square of half the image's side set to zero, centred anywhere in it.

The random numbers are drawn as one N×K tensor of uniforms from the game's generator (through
`group.draw`, so data-parallel processes and population members each get their own), then turned
into transforms without reading anything back to the host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import ConfigError
from .sections import AUGMENT_POLICIES

POLICIES = AUGMENT_POLICIES
UNIFORMS = {"color": 3, "translation": 2, "cutout": 2}  # uniform draws per sample of each policy
Draw = Callable[[Callable[[int, torch.Generator], Tensor], int, torch.Generator], Tensor]


class DiffAugment:
    """The named policies, in the order given, as a differentiable function of an N×C×H×W batch."""

    def __init__(self, policies: Sequence[str], translation: float = 0.125, cutout: float = 0.5) -> None:
        unknown = [p for p in policies if p not in POLICIES]
        if unknown or not policies:
            raise ConfigError(f"train.augment: unknown policy {unknown[0]!r} (allowed: {', '.join(POLICIES)})"
                              if unknown else "train.augment needs at least one policy")  # fmt: skip
        self.policies = tuple(dict.fromkeys(policies))  # each once, in the order given
        self.translation, self.cutout = translation, cutout
        self.width = sum(UNIFORMS[p] for p in self.policies)

    def __repr__(self) -> str:
        return f"DiffAugment({', '.join(self.policies)})"

    def uniforms(self, n: int, rng: torch.Generator) -> Tensor:
        """The n × K uniform draws that fix n samples' transforms."""
        return torch.rand(n, self.width, generator=rng, device=rng.device)

    def __call__(self, x: Tensor, rng: torch.Generator, draw: Draw | None = None) -> Tensor:
        """`x` augmented, with draws from `rng` (through `draw`, a group's, when given)."""
        u = draw(self.uniforms, len(x), rng) if draw is not None else self.uniforms(len(x), rng)
        return self.apply(x, u)

    def apply(self, x: Tensor, u: Tensor) -> Tensor:
        """`x` transformed as the uniforms `u` (N × K, from `uniforms`) say."""
        if x.dim() != 4:
            raise ValueError(f"DiffAugment needs N×C×H×W images, got shape {tuple(x.shape)}")
        u = u.to(device=x.device, dtype=x.dtype)
        column = 0
        for policy in self.policies:
            k = UNIFORMS[policy]
            x = getattr(self, f"_{policy}")(x, u[:, column : column + k])
            column += k
        return x

    @staticmethod
    def _color(x: Tensor, u: Tensor) -> Tensor:
        x = x + (u[:, 0] - 0.5)[:, None, None, None]
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (2 * u[:, 1])[:, None, None, None] + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * (u[:, 2] + 0.5)[:, None, None, None] + mean

    def _translation(self, x: Tensor, u: Tensor) -> Tensor:
        n, c, h, w = x.shape
        sy, sx = int(h * self.translation + 0.5), int(w * self.translation + 0.5)
        shift_y = (u[:, 0] * (2 * sy + 1)).floor().long().clamp_(max=2 * sy)  # 0…2s: the window's offset
        shift_x = (u[:, 1] * (2 * sx + 1)).floor().long().clamp_(max=2 * sx)
        padded = F.pad(x, (sx, sx, sy, sy))
        rows = shift_y[:, None] + torch.arange(h, device=x.device)
        cols = shift_x[:, None] + torch.arange(w, device=x.device)
        padded = padded.gather(2, rows[:, None, :, None].expand(n, c, h, padded.shape[3]))
        return padded.gather(3, cols[:, None, None, :].expand(n, c, h, w))

    def _cutout(self, x: Tensor, u: Tensor) -> Tensor:
        n, _, h, w = x.shape
        size_y, size_x = int(h * self.cutout + 0.5), int(w * self.cutout + 0.5)
        top = (u[:, 0] * h).floor().long() - size_y // 2  # the square's centre anywhere in the image
        left = (u[:, 1] * w).floor().long() - size_x // 2
        rows = torch.arange(h, device=x.device)[None, :] - top[:, None]
        cols = torch.arange(w, device=x.device)[None, :] - left[:, None]
        inside = ((rows >= 0) & (rows < size_y))[:, :, None] & ((cols >= 0) & (cols < size_x))[:, None, :]
        return x * (~inside)[:, None].to(x.dtype)


def augmentation(policies: Sequence[str], sample_shape: Sequence[int]) -> DiffAugment | None:
    """The DiffAugment of `train.augment` for samples of `sample_shape` (None when it names none);
    a ConfigError for data that are not images."""
    if not policies:
        return None
    augment = DiffAugment(policies)
    if len(sample_shape) != 3:
        raise ConfigError(f"train.augment transforms images; this data's samples have shape {tuple(sample_shape)} "
                          "(leave train.augment empty)")  # fmt: skip
    return augment
