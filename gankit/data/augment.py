"""Training augmentation applied on the device to whole batches, drawn from the batch source's generator.

`Jitter` is pix2pix's "resize, random crop, random mirror": every draw comes from one torch.Generator
on the batch's device and nothing reads a tensor value back to the host, so a run restored to the
same generator state sees the same jitter, and a CUDA graph may hold it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


class Jitter:
    """Resize images to load_size², take a random crop_size² window and, with `mirror`, flip half of them.

    The window and the flip are drawn once per sample and applied to every listed key, so an input
    image and its target stay aligned pixel for pixel.
    """

    def __init__(self, load_size: int, crop_size: int, mirror: bool) -> None:
        if crop_size < 1:
            raise ValueError(f"crop_size must be >= 1, got {crop_size}")
        if load_size < crop_size:
            raise ValueError(f"load_size ({load_size}) must be >= crop_size ({crop_size}): the crop is cut from it")
        self.load_size = int(load_size)
        self.crop_size = int(crop_size)
        self.mirror = bool(mirror)

    def __repr__(self) -> str:
        return f"Jitter(load_size={self.load_size}, crop_size={self.crop_size}, mirror={self.mirror})"

    @property
    def is_identity(self) -> bool:
        """True when the jitter changes nothing (no resize, a crop of the whole image, no flips)."""
        return self.load_size == self.crop_size and not self.mirror

    def windows(self, n: int, rng: torch.Generator) -> tuple[Tensor, Tensor]:
        """Draw the row and column indices (each n × crop_size, int64 on `rng.device`) of every sample's window.

        A mirrored sample has its column indices reversed. Offsets are drawn first, then the flips.
        """
        device = rng.device
        span = self.load_size - self.crop_size + 1
        offsets = torch.randint(span, (n, 2), generator=rng, device=device)
        steps = torch.arange(self.crop_size, device=device)
        rows = offsets[:, :1] + steps
        cols = offsets[:, 1:] + steps
        if self.mirror:
            flip = torch.rand(n, generator=rng, device=device) < 0.5
            cols = torch.where(flip[:, None], cols.flip(1), cols)
        return rows, cols

    def __call__(self, batch: dict[str, Tensor], keys: Sequence[str], rng: torch.Generator) -> dict[str, Tensor]:
        """A new batch whose `keys` are jittered alike (same window and flip per sample); other keys pass through."""
        keys = list(keys)
        if not keys or self.is_identity:
            return dict(batch)
        sizes = {key: len(batch[key]) for key in keys}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"jittered keys must hold the same number of samples, got {sizes}")
        rows, cols = self.windows(sizes[keys[0]], rng)
        out = dict(batch)
        for key in keys:
            out[key] = self._crop(self._resize(batch[key]), rows, cols)
        return out

    def _resize(self, x: Tensor) -> Tensor:
        """N×C×H×W → N×C×L×L (bilinear, align_corners=False); integer pixels are resized as floats and rounded."""
        if x.dim() != 4:
            raise ValueError(f"jitter needs N×C×H×W image batches, got shape {tuple(x.shape)}")
        size = (self.load_size, self.load_size)
        if tuple(x.shape[-2:]) == size:
            return x
        if x.is_floating_point():
            return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        info = torch.iinfo(x.dtype)
        y = F.interpolate(x.to(torch.float32), size=size, mode="bilinear", align_corners=False)
        return y.round_().clamp_(info.min, info.max).to(x.dtype)

    def _crop(self, x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
        """Each sample's window, gathered by index (rows, then columns): no host synchronisation."""
        n, c = x.shape[:2]
        rows, cols = rows.to(x.device), cols.to(x.device)
        x = x.gather(2, rows[:, None, :, None].expand(n, c, self.crop_size, x.shape[3]))
        return x.gather(3, cols[:, None, None, :].expand(n, c, self.crop_size, self.crop_size))
