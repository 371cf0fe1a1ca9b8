"""Paired translation measures against float64 NumPy/SciPy references, hand values, the sharpness
order of blurred and noisy images, and chunk-independence of the batch means."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch

from gankit.metrics import paired
from gankit.metrics.paired import PSNR_CAP, high_frequency_energy, l1, paired_measures, psnr, ssim


def structured(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Images in [-1, 1] with gradients, stripes of several frequencies and a sharp-edged disc."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty((n, c, h, w))
    for i in range(n):
        for k in range(c):
            a, b, f, cx, cy = rng.uniform(0.2, 1, 2).tolist() + [rng.uniform(3, 12)] + rng.uniform(0.3, 0.7, 2).tolist()
            disc = ((x - cx) ** 2 + (y - cy) ** 2 < 0.05).astype(float)
            img = a * x - b * y + 0.3 * np.sin(2 * np.pi * f * x + k) * np.cos(2 * np.pi * f * y / 2) + 0.5 * disc
            out[i, k] = img
    lo, hi = out.min(axis=(2, 3), keepdims=True), out.max(axis=(2, 3), keepdims=True)
    return 2 * (out - lo) / (hi - lo) - 1


def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    return scipy.ndimage.gaussian_filter(images, sigma=(0, 0, sigma, sigma))


def pair(kind: str, c: int, h: int = 40, w: int = 47, n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """A float32 (fake, real) pair: random noise images, or structured targets with blurred, noisy translations."""
    rng = np.random.default_rng(c * 100 + h)
    if kind == "random":
        real, fake = rng.uniform(-1, 1, (2, n, c, h, w))
    else:
        real = structured(n, c, h, w, seed=c)
        fake = np.clip(blur(real, 1.0) + rng.normal(0, 0.05, real.shape), -1, 1)
    return torch.tensor(fake, dtype=torch.float32), torch.tensor(real, dtype=torch.float32)


# Float64 references, written from the definitions.


def ref_psnr(fake: np.ndarray, real: np.ndarray) -> float:
    mse = (((fake + 1) / 2 - (real + 1) / 2) ** 2).reshape(len(fake), -1).mean(1)
    with np.errstate(divide="ignore"):
        return float(np.minimum(10 * np.log10(1 / mse), PSNR_CAP).mean())


def ref_ssim(fake: np.ndarray, real: np.ndarray) -> float:
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    per_image = []
    for f_img, r_img in zip((fake + 1) / 2, (real + 1) / 2):
        channels = []
        for x, y in zip(f_img, r_img):

            def filt(a):
                return scipy.signal.convolve2d(a, window, mode="valid")

            mx, my = filt(x), filt(y)
            vx, vy, cov = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
            s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
            channels.append(s.mean())
        per_image.append(np.mean(channels))
    return float(np.mean(per_image))


def ref_high_frequency_energy(images: np.ndarray, cutoff: float = 0.25) -> float:
    _, _, h, w = images.shape
    radius = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2)
    shares = []
    for img in images:
        grey = img.mean(0)
        power = np.abs(np.fft.fft2(grey - grey.mean())) ** 2
        shares.append(power[radius > cutoff * 0.5].sum() / power.sum() if power.sum() > 0 else 0.0)
    return float(np.mean(shares))


@pytest.mark.parametrize("kind", ["random", "structured"])
@pytest.mark.parametrize("c", [1, 3])
def test_measures_match_float64_references(kind: str, c: int) -> None:
    fake, real = pair(kind, c)
    f64, r64 = fake.double().numpy(), real.double().numpy()
    assert l1(fake, real) == pytest.approx(np.abs(f64 - r64).mean(), rel=1e-6, abs=1e-6)
    assert psnr(fake, real) == pytest.approx(ref_psnr(f64, r64), rel=1e-6, abs=1e-5)
    assert ssim(fake, real) == pytest.approx(ref_ssim(f64, r64), abs=1e-5)
    for cutoff in (0.1, 0.25, 0.6):
        assert high_frequency_energy(fake, cutoff) == pytest.approx(ref_high_frequency_energy(f64, cutoff), abs=1e-5)
    # Even widths have a Nyquist column that the half spectrum must not count twice.
    assert high_frequency_energy(real[..., :46]) == pytest.approx(ref_high_frequency_energy(r64[..., :46]), abs=1e-5)


def test_zero_one_range_equals_mapped_minus_one_one() -> None:
    fake, real = pair("structured", 3)
    unit_fake, unit_real = (fake + 1) / 2, (real + 1) / 2
    assert psnr(unit_fake, unit_real, "zero-one") == pytest.approx(psnr(fake, real), abs=1e-4)
    assert ssim(unit_fake, unit_real, "zero-one") == pytest.approx(ssim(fake, real), abs=1e-5)
    with pytest.raises(ValueError, match="value_range"):
        ssim(fake, real, value_range="0-255")


def test_hand_values() -> None:
    _, real = pair("structured", 3)
    assert l1(real, real) == 0.0
    assert psnr(real, real) == PSNR_CAP
    assert ssim(real, real) == pytest.approx(1.0, abs=1e-6)
    # An offset of 0.1 in [0, 1] units (0.2 in [-1, 1]) is an MSE of 0.01: exactly 20 dB.
    base = real.clamp(-0.8, 0.8)
    assert psnr(base + 0.2, base) == pytest.approx(20.0, abs=1e-4)
    assert l1(base + 0.2, base) == pytest.approx(0.2, abs=1e-6)
    unit = (base + 1) / 2
    assert psnr(unit - 0.1, unit, "zero-one") == pytest.approx(20.0, abs=1e-4)
    # A partly identical image: a capped PSNR for the one and 20 dB for the other average to 60.
    assert psnr(torch.stack([base[0], base[1] + 0.2]), base[:2]) == pytest.approx((PSNR_CAP + 20) / 2, abs=1e-4)
    # Anti-correlated structure: SSIM of an image against its negative is negative.
    for kind in ("random", "structured"):
        _, img = pair(kind, 1)
        assert ssim(-img, img) < -0.1


def test_sharpness_falls_with_blur_and_rises_with_fine_noise() -> None:
    images = structured(4, 3, 64, 64, seed=5)
    scores = [high_frequency_energy(torch.tensor(blur(images, s), dtype=torch.float32)) for s in (0, 1, 2, 4)]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    noisy = images + np.random.default_rng(0).normal(0, 0.1, images.shape)
    assert high_frequency_energy(torch.tensor(noisy, dtype=torch.float32)) > scores[0]
    # White noise spreads power evenly: its share is about the area beyond the cutoff.
    white = torch.randn(8, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    area = 1 - np.pi * (0.25 * 0.5) ** 2
    assert high_frequency_energy(white) == pytest.approx(area, abs=0.02)
    assert high_frequency_energy(torch.full((2, 3, 32, 32), 0.3)) == 0.0


@pytest.mark.parametrize("chunk_elements", [1, 3 * 3 * 40 * 47, 1 << 30])
def test_batch_is_mean_of_per_image_results(monkeypatch: pytest.MonkeyPatch, chunk_elements: int) -> None:
    fake, real = pair("structured", 3, n=7)
    fake[2] = real[2]  # one capped PSNR in the mix
    singles = [paired_measures(fake[i : i + 1], real[i : i + 1]) for i in range(len(fake))]
    monkeypatch.setattr(paired, "_CHUNK_ELEMENTS", chunk_elements)
    batch = paired_measures(fake, real)
    for key, value in batch.items():
        assert value == pytest.approx(np.mean([s[key] for s in singles]), rel=1e-6, abs=1e-6), key


def test_paired_measures_reports_each_measure() -> None:
    fake, real = pair("structured", 1)
    assert paired_measures(fake, real) == {
        "l1": l1(fake, real),
        "psnr": psnr(fake, real),
        "ssim": ssim(fake, real),
        "sharpness": high_frequency_energy(fake),
        "target_sharpness": high_frequency_energy(real),
    }
    assert paired_measures(fake, real)["sharpness"] < paired_measures(fake, real)["target_sharpness"]


@pytest.mark.parametrize("measure", [l1, psnr, ssim, paired_measures])
def test_shape_mismatch_raises(measure) -> None:
    fake, real = pair("random", 3)
    with pytest.raises(ValueError, match="differ in shape") as caught:
        measure(fake, real[:, :1])
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError):
        measure(fake, real[:2])
