"""Ways for a discriminator to see how varied a batch is, the standard remedies for mode collapse.

`Packed` (PacGAN, Lin et al. 2018): D judges m samples at once, concatenated along their first
axis (features of a vector, channels of an image), so a generator that covers few modes gives
itself away by packs whose members look alike. `MinibatchStdDev` (Progressive GAN, Karras et
al. 2018): one extra feature, the standard deviation of every feature across a group of samples,
averaged, lets D compare a batch's spread with the data's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def packed_shape(shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The shape one pack of `pack` samples of `shape` has: the first axis `pack` times longer."""
    return (shape[0] * pack, *shape[1:])


def pack(x: Tensor, m: int) -> Tensor:
    """N samples → N/m packs: each m consecutive samples concatenated along their first axis."""
    n = x.shape[0]
    if n % m:
        raise ValueError(f"{n} samples cannot be split into packs of {m}")
    return x.reshape(n // m, m, *x.shape[1:]).flatten(1, 2)


class Packed(nn.Module):
    """A discriminator that scores packs of `m` samples: one output per pack.

    The samples in a batch are independent draws, so consecutive ones make independent packs;
    the wrapped network's input is `m` times wider (see `packed_shape`)."""

    def __init__(self, discriminator: nn.Module, m: int) -> None:
        super().__init__()
        self.discriminator, self.m = discriminator, m

    def forward(self, x: Tensor, *args: Tensor) -> Tensor:
        return self.discriminator(pack(x, self.m), *args)


class MinibatchStdDev(nn.Module):
    """Appends one feature (a channel, for images): the standard deviation of each feature over
    a group of `group_size` samples, averaged over features and positions, the same for every
    sample of the group. Identical samples give 1e-4 (√ε). A batch that does not split into whole
    groups uses one group."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        g = self.group_size if n % self.group_size == 0 else n
        groups = x.reshape(n // g, g, *x.shape[1:])
        std = (groups.var(dim=1, unbiased=False) + 1e-8).sqrt()  # per group and feature (ε: a finite gradient at 0)
        spread = std.flatten(1).mean(1)  # one number per group
        feature = spread.repeat_interleave(g).reshape(n, *([1] * (x.dim() - 1)))
        feature = feature.expand(n, 1, *x.shape[2:])
        return torch.cat([x, feature], dim=1)
