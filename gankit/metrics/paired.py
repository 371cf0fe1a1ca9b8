"""Measures of paired image-to-image translation (Pix2Pix): translated images against their targets.

Images are float N×C×H×W tensors in the networks' range [-1, 1] (or [0, 1] where `value_range`
says "zero-one"). Everything runs in float32 on the images' device, a few images at a time so
that thousands of 256 px images need no large temporaries, and only the final numbers reach the host.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

PSNR_CAP = 100.0  # dB, the PSNR of an image with zero error (instead of inf, so means stay finite)
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03
_CHUNK_ELEMENTS = 1 << 21  # pixel values per chunk; the SSIM temporaries are about ten times this
_RANGES = ("minus-one-one", "zero-one")


def _check(fake: Tensor, real: Tensor | None = None, value_range: str = "minus-one-one") -> None:
    if fake.dim() != 4 or len(fake) == 0:
        raise ValueError(f"expected a non-empty N×C×H×W batch of images, got shape {tuple(fake.shape)}")
    if real is not None and fake.shape != real.shape:
        raise ValueError(f"fake and real images differ in shape: {tuple(fake.shape)} and {tuple(real.shape)}")
    if value_range not in _RANGES:
        raise ValueError(f"value_range must be one of {_RANGES}, got {value_range!r}")


def _chunks(images: Tensor, *more: Tensor):
    """Consecutive float32 slices of the batch(es), each holding about _CHUNK_ELEMENTS values."""
    size = max(1, _CHUNK_ELEMENTS // images[0].numel())
    for start in range(0, len(images), size):
        yield tuple(t[start : start + size].float() for t in (images, *more))


def _unit(images: Tensor, value_range: str) -> Tensor:
    return (images + 1) / 2 if value_range == "minus-one-one" else images


def l1(fake: Tensor, real: Tensor) -> float:
    """Mean absolute error in the [-1, 1] range: what pix2pix's L1 reconstruction loss measures."""
    _check(fake, real)
    total = sum((f - r).abs().sum() for f, r in _chunks(fake, real))
    return float(total) / fake.numel()


def psnr(fake: Tensor, real: Tensor, value_range: str = "minus-one-one") -> float:
    """Mean over images of 10·log10(1 / MSE) with pixels in [0, 1] (peak 1).

    An image with zero error scores PSNR_CAP (100 dB) rather than inf, and no image scores more.
    """
    _check(fake, real, value_range)
    scale = 0.5 if value_range == "minus-one-one" else 1.0
    total = 0.0
    for f, r in _chunks(fake, real):
        mse = ((f - r) * scale).square().flatten(1).mean(1)
        db = torch.where(mse > 0, -10 * torch.log10(mse.clamp_min(1e-30)), torch.full_like(mse, PSNR_CAP))
        total = total + db.clamp_max(PSNR_CAP).sum()
    return float(total) / len(fake)


def _gaussian_window(device: torch.device) -> Tensor:
    x = torch.arange(SSIM_WINDOW, dtype=torch.float32, device=device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def ssim(fake: Tensor, real: Tensor, value_range: str = "minus-one-one") -> float:
    """Mean SSIM (Wang et al. 2004): 11×11 Gaussian window with σ 1.5, K1 0.01, K2 0.03, data range 1.

    Local statistics use 'valid' filtering (no padding) like the paper's reference code; the SSIM map
    is averaged per channel, then over channels and images.
    """
    _check(fake, real, value_range)
    if min(fake.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {tuple(fake.shape)}")
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    g = _gaussian_window(fake.device)
    rows, cols = g.view(1, 1, 1, -1), g.view(1, 1, -1, 1)
    total = 0.0
    for f, r in _chunks(fake, real):
        n, c, h, w = f.shape
        x, y = _unit(f, value_range).reshape(n * c, 1, h, w), _unit(r, value_range).reshape(n * c, 1, h, w)
        # Centre each channel on its own mean first: variances then cancel less in float32.
        centre = (x.mean((2, 3), keepdim=True) + y.mean((2, 3), keepdim=True)) / 2
        xc, yc = x - centre, y - centre
        stats = F.conv2d(F.conv2d(torch.cat([xc, yc, xc * xc, yc * yc, xc * yc]), rows), cols)
        mx, my, xx, yy, xy = stats.chunk(5)
        vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
        mx, my = mx + centre, my + centre
        index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        total = total + index.view(n, c, -1).mean(2).mean(1).sum()
    return float(total) / len(fake)


def _high_frequency_mask(h: int, w: int, cutoff: float, device: torch.device) -> Tensor:
    """Where the radial frequency of an rfft2 bin exceeds cutoff × Nyquist (0.5 cycles/pixel), as a 0/1 map."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.rfftfreq(w, dtype=torch.float64).view(1, -1)
    return (torch.sqrt(fy**2 + fx**2) > cutoff * 0.5).float().to(device)


def high_frequency_energy(images: Tensor, cutoff: float = 0.25) -> float:
    """Sharpness: the mean over images of the share of spectral power above `cutoff` × the Nyquist frequency.

    Each image is made grey (mean over channels) and zero-mean before its 2-D power spectrum is
    taken; a constant image scores 0. Blurring removes high frequencies and so lowers the score.
    """
    _check(images)
    h, w = images.shape[-2:]
    high = _high_frequency_mask(h, w, cutoff, images.device)
    # rfft2 keeps half the spectrum: the columns that stand for two conjugate bins count twice.
    weight = torch.ones(w // 2 + 1, device=images.device)
    weight[1 : (w + 1) // 2] = 2
    total = 0.0
    for (chunk,) in _chunks(images):
        grey = chunk.mean(1)
        grey = grey - grey.mean((1, 2), keepdim=True)
        power = torch.fft.rfft2(grey).abs().square() * weight
        all_power, high_power = power.sum((1, 2)), (power * high).sum((1, 2))
        share = torch.where(all_power > 0, high_power / all_power.clamp_min(1e-30), torch.zeros_like(all_power))
        total = total + share.sum()
    return float(total) / len(images)


def paired_measures(fake: Tensor, real: Tensor, value_range: str = "minus-one-one") -> dict[str, float]:
    """All paired measures of translated images `fake` against their targets `real`, both in
    `value_range` (L1 is in that range's units)."""
    _check(fake, real, value_range)
    return {
        "l1": l1(fake, real),
        "psnr": psnr(fake, real, value_range),
        "ssim": ssim(fake, real, value_range),
        "sharpness": high_frequency_energy(fake),
        "target_sharpness": high_frequency_energy(real),
    }


__all__ = ["PSNR_CAP", "high_frequency_energy", "l1", "paired_measures", "psnr", "ssim"]
