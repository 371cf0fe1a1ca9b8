"""Progressive GAN (Karras et al., 2018): train at 4×4, then grow G and D a resolution at a time.

The growth plan is counted in images shown to D, as the paper counts it: `model.stable_images` at
4×4, then for each further resolution `model.fade_images` while the new blocks fade in (alpha from
0 to 1, in G, in D, and in the real images, which are blended between the two resolutions the same
way) and `model.stable_images` with them alone; the last resolution then trains to `train.steps`.
Each resolution may have its own batch size (`model.batch_sizes`, at most `data.batch_size`, of
which each update takes the first rows), and each growth may start the optimisers afresh
(`model.reset_optimizers`). The plan is a pure function of the iteration, so a run resumed in the
middle of a fade-in carries on at exactly the same level, alpha and batch size.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..data import TargetInfo
from ..distributed import Group
from ..errors import ConfigError
from ..games import StandardGAN
from ..recipe import Latent
from .progan_nets import ProDiscriminator, ProGenerator, downsample, upsample


@dataclass(frozen=True)
class Phase:
    """A stretch of training at one level: `length` iterations from `start` (the last is open-ended)."""

    start: int
    length: int
    level: int
    fading: bool
    batch: int


class GrowthPlan:
    """The phases of a run: stable at 4×4, then (fade-in, stable) at each further level."""

    def __init__(self, levels: int, fade_images: int, stable_images: int, batches: list[int]) -> None:
        self.phases: list[Phase] = []
        start = 0
        for level in range(levels):
            batch = batches[min(level, len(batches) - 1)]
            for fading, images in ((True, fade_images), (False, stable_images)):
                if fading and level == 0:
                    continue
                length = math.ceil(images / batch)
                if length:
                    self.phases.append(Phase(start, length, level, fading, batch))
                    start += length
        self.starts = [p.start for p in self.phases]
        first = {}
        for p in self.phases:
            first.setdefault(p.level, p.start)
        self.growths = {start for level, start in first.items() if level > 0}  # a level's first iteration

    @property
    def grown(self) -> int:
        """The iteration at which the last level has faded in and stabilised."""
        return self.phases[-1].start + self.phases[-1].length

    def at(self, step: int) -> tuple[Phase, float]:
        """The phase of iteration `step` and its alpha (rising to 1 over a fade-in, else 1)."""
        phase = self.phases[max(0, bisect.bisect_right(self.starts, step) - 1)]
        if phase.fading and step < phase.start + phase.length:
            return phase, (step - phase.start + 1) / phase.length
        return phase, 1.0


class ProGAN(StandardGAN):
    """The standard game on growing networks: each iteration runs at the plan's level and alpha."""

    unused_parameters = True  # the layers of levels not yet reached get no gradient (DDP must know)

    def configure_growth(self, plan: GrowthPlan, resolution: int, reset: bool) -> None:
        self.plan, self.full_resolution, self.reset = plan, resolution, reset

    def graph_obstacle(self) -> str | None:
        return "Progressive GAN runs other layers at each resolution (a graph per level is not captured yet)"

    def on_iteration(self, step: int, total: int) -> tuple[str, ...]:
        phase, alpha = self.plan.at(step)
        for net in (self.nets["G"], self.nets["D"], *self.ema.values()):
            net.grow(phase.level, alpha)
        self.batch_size = phase.batch // self.group.world
        return ("D", "G") if self.reset and step in self.plan.growths else ()

    def distribute(self, group: Group, wrappers: dict[str, nn.Module]) -> None:
        uneven = sorted({p.batch for p in self.plan.phases if p.batch % group.world})
        if uneven:
            raise ConfigError(f"model.batch_sizes: a batch of {uneven[0]} does not divide among the {group.world} "
                              "processes (each resolution's batch must be a multiple of the process count)")  # fmt: skip
        super().distribute(group, wrappers)

    def pack_discriminator(self, discriminator: nn.Module, m: int) -> None:
        raise ConfigError(f"model.pack = {m}: Progressive GAN's D grows and cannot be packed (use model.pack = 1)")

    def real_view(self, x: Tensor) -> Tensor:
        """The first rows of the batch, shrunk to the current resolution (area average); during a
        fade-in, blended with their half-resolution version enlarged, as G's output is."""
        D = self.nets["D"]
        x = x[: self.batch_size]
        factor = self.full_resolution // D.resolution
        shrunk = F.avg_pool2d(x, factor) if factor > 1 else x
        if D.fading:
            shrunk = shrunk.lerp(upsample(downsample(shrunk)), 1 - D.alpha)
        return shrunk

    def run_generator(self, generator: nn.Module, z: Tensor, labels: Tensor | None) -> Tensor:
        """Samples at the data's resolution: a network still growing is enlarged (bilinear: a
        low-resolution sample looks blurred, not made of blocks a classifier may read as strokes)."""
        images = generator(z)
        if images.shape[-1] != self.full_resolution:
            images = F.interpolate(images, size=self.full_resolution, mode="bilinear", align_corners=False)
        return images


def levels_for(resolution: int) -> int:
    """How many levels reach `resolution` from 4×4; a ConfigError unless it is 4·2^k (k ≥ 1)."""
    k = int(math.log2(resolution / 4)) if resolution >= 8 else 0
    if resolution < 8 or 4 * 2**k != resolution:
        raise ConfigError(f"model progan grows from 4×4 by doubling: the images must be 4·2^k pixels (8, 16, 32, "
                          f"64, …); these are {resolution} (set data.resolution, e.g. 32)")  # fmt: skip
    return k + 1


def build_progan(config: dict[str, Any], target: TargetInfo) -> StandardGAN:
    m = config["model"]
    if len(target.shape) != 3 or target.shape[1] != target.shape[2]:
        raise ConfigError(f"model progan builds square images (C×R×R); data.target {config['data']['target']} "
                          f"gives samples of shape {tuple(target.shape)}")  # fmt: skip
    channels, resolution = target.shape[0], target.shape[1]
    levels = levels_for(resolution)
    batch = config["data"]["batch_size"]
    batches = m["batch_sizes"] or [batch]
    if max(batches) > batch:
        raise ConfigError(f"model.batch_sizes {batches} must not exceed data.batch_size = {batch}: each "
                          "resolution takes its batch from the first rows of the data's")  # fmt: skip
    generator = ProGenerator(m["latent_dim"], channels, levels, m["width"], m["fmap_base"])
    discriminator = ProDiscriminator(channels, levels, m["width"], m["fmap_base"], m["mbstd_group"])
    game = ProGAN.from_config(generator, discriminator, Latent(m["latent_dim"]), config)
    game.configure_growth(GrowthPlan(levels, m["fade_images"], m["stable_images"], batches), resolution,
                          m["reset_optimizers"])  # fmt: skip
    game.on_iteration(0, config["train"]["steps"])  # built at the stage its first iteration trains
    return game
