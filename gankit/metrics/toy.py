"""Distances and mode counts for low-dimensional targets, computed in float64.

SciPy is imported where it is used: it takes about a second to import, and the modules that
import these measures (the toy targets) are imported whenever a config is validated.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def wasserstein_1d(values: Tensor | np.ndarray, reference: Tensor | np.ndarray) -> float:
    """Wasserstein-1 distance between two 1-D empirical distributions (SciPy's exact formula)."""
    import scipy.stats

    return float(scipy.stats.wasserstein_distance(_numpy(values).ravel(), _numpy(reference).ravel()))


def sliced_wasserstein(a: Tensor, b: Tensor, projections: int = 256, seed: int = 0) -> float:
    """Mean Wasserstein-1 distance of the two point sets projected on random unit directions.

    Both sets must have the same size: on a line, W1 between equal-size samples is the mean
    gap between their sorted values.
    """
    if a.shape != b.shape:
        raise ValueError(f"sliced_wasserstein needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a.detach().double().cpu().flatten(1), b.detach().double().cpu().flatten(1)
    gen = torch.Generator().manual_seed(seed)
    directions = torch.randn(a.shape[1], projections, generator=gen, dtype=torch.float64)
    directions /= directions.norm(dim=0, keepdim=True)
    a_rows, b_rows, directions = a.T.numpy(), b.T.numpy(), directions.T.numpy()
    total = 0.0
    # NumPy's vectorised sort of each projection's row is ~10× torch's column sort on the CPU;
    # 32 projections at a time stay in the cache (all 256 of 2,500 points: 10 MB)
    for start in range(0, projections, 32):
        block = directions[start : start + 32]
        total += np.abs(np.sort(block @ a_rows, axis=1) - np.sort(block @ b_rows, axis=1)).sum()
    return float(total / (projections * a.shape[0]))


def energy_distance(a: Tensor, b: Tensor) -> float:
    """Energy distance sqrt(2E|X−Y| − E|X−X'| − E|Y−Y'|) between two point sets (V-statistic).

    In one dimension this is SciPy's `energy_distance`; it is zero only for equal distributions.
    """
    a, b = _numpy(a.flatten(1)), _numpy(b.flatten(1))
    cross = _distance_sum(a, b) / (len(a) * len(b))
    # each pair within a set once, the zero diagonal counted as the V-statistic does
    within_a, within_b = (2 * _distance_sum(x) / len(x) ** 2 for x in (a, b))
    return float(np.sqrt(max(2 * cross - within_a - within_b, 0.0)))


def _distance_sum(a: np.ndarray, b: np.ndarray | None = None, rows: int = 256) -> float:
    """The sum of Euclidean distances between the rows of `a` and `b` (every pair within `a`
    once when `b` is None), a block of `rows` at a time: the whole matrix of 2,500 points is
    50 MB, which took longer to write and read than to compute and slowed the training loop on
    the neighbouring core; a block stays in the cache."""
    import scipy.spatial.distance

    total = 0.0
    for start in range(0, len(a), rows):
        block = a[start : start + rows]
        if b is None:  # the pairs inside the block once, then the block against the rows after it
            total += scipy.spatial.distance.pdist(block).sum()
            total += scipy.spatial.distance.cdist(block, a[start + rows :]).sum()
        else:
            total += scipy.spatial.distance.cdist(block, b).sum()
    return float(total)


def mode_coverage(points: Tensor, centres: Tensor, std: float, threshold: float = 3.0) -> dict[str, float]:
    """The VEEGAN/PacGAN protocol for Gaussian mixtures.

    Each point is assigned to its nearest centre; it is high quality if it lies within
    `threshold` standard deviations of that centre. `modes` counts centres with at least one
    high-quality point; `high_quality` is the share of high-quality points; `mode_kl` is the
    KL divergence of the high-quality points' mode histogram from the uniform one (0 when
    modes are evenly covered).
    """
    points, centres = points.detach().double().cpu(), centres.detach().double().cpu()
    distances = torch.cdist(points, centres)
    nearest, index = distances.min(dim=1)
    good = nearest <= threshold * std
    counts = torch.bincount(index[good], minlength=len(centres)).double()
    total = counts.sum()
    if total > 0:
        p = counts / total
        nonzero = p > 0
        kl = float((p[nonzero] * (p[nonzero] * len(centres)).log()).sum())
    else:
        kl = float("inf")
    return {
        "modes": int((counts > 0).sum()),
        "high_quality": float(good.double().mean()),
        "mode_kl": kl,
    }


def _numpy(values: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(values, Tensor):
        return values.detach().double().cpu().numpy()
    return np.asarray(values, dtype=np.float64)
