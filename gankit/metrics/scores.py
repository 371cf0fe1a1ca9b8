"""Sample-quality scores computed from feature vectors: FID, KID, Inception Score, improved
precision and recall, density and coverage. Statistics are float64; every function takes
features (N × D tensors or arrays) so that any feature network can feed them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def _f64(x: Tensor | np.ndarray) -> Tensor:
    return torch.as_tensor(x).detach().to("cpu", torch.float64)


@dataclass
class GaussianStats:
    """Mean and covariance of features, accumulated in float64 one batch at a time."""

    dim: int
    count: int = 0
    total: Tensor | None = None
    outer: Tensor | None = None

    def update(self, features: Tensor) -> None:
        f = _f64(features).flatten(1)
        if self.total is None:
            self.total, self.outer = (
                torch.zeros(self.dim, dtype=torch.float64),
                torch.zeros(self.dim, self.dim, dtype=torch.float64),
            )
        self.total += f.sum(0)
        self.outer += f.T @ f
        self.count += len(f)

    @property
    def mean(self) -> Tensor:
        return self.total / self.count

    @property
    def covariance(self) -> Tensor:
        """Unbiased sample covariance (N − 1 in the denominator, as NumPy's np.cov and pytorch-fid)."""
        mean = self.mean
        return (self.outer - self.count * torch.outer(mean, mean)) / (self.count - 1)

    @classmethod
    def of(cls, features: Tensor | np.ndarray) -> GaussianStats:
        f = _f64(features).flatten(1)
        stats = cls(f.shape[1])
        stats.update(f)
        return stats


def _sqrt_psd(matrix: Tensor) -> Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), the Fréchet distance of two Gaussians.

    tr((Σ₁Σ₂)^½) is computed as Σ √λᵢ of the symmetric PSD matrix Σ₁^½ Σ₂ Σ₁^½ (same
    eigenvalues as Σ₁Σ₂), which stays real and stable where a general matrix square root of a
    near-singular product picks up imaginary parts.
    """
    mu1, mu2, sigma1, sigma2 = map(_f64, (mu1, mu2, sigma1, sigma2))
    root = _sqrt_psd(sigma1)
    middle = root @ sigma2 @ root
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    value = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt
    return float(value.clamp_min(0))


def fid(real: GaussianStats | Tensor, fake: GaussianStats | Tensor) -> float:
    """Fréchet Inception Distance between two feature sets (or their accumulated statistics)."""
    a = real if isinstance(real, GaussianStats) else GaussianStats.of(real)
    b = fake if isinstance(fake, GaussianStats) else GaussianStats.of(fake)
    return frechet_distance(a.mean, a.covariance, b.mean, b.covariance)


def polynomial_kernel(x: Tensor, y: Tensor) -> Tensor:
    """KID's kernel k(x, y) = (xᵀy / d + 1)³."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD² with the polynomial kernel (the within-set sums leave out the diagonal)."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return (
        (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
        + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
        - 2 * kxy.mean()
    )


def kid(real: Tensor, fake: Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al.): unbiased MMD² averaged over random subsets,
    with its standard deviation over the subsets."""
    real, fake = _f64(real).flatten(1), _f64(fake).flatten(1)
    size = min(subset_size, len(real), len(fake))
    gen = torch.Generator().manual_seed(seed)
    values = torch.stack([
        mmd2_unbiased(real[torch.randperm(len(real), generator=gen)[:size]],
                      fake[torch.randperm(len(fake), generator=gen)[:size]])
        for _ in range(subsets)
    ])  # fmt: skip
    return float(values.mean()), float(values.std()) if subsets > 1 else 0.0


def inception_score(probabilities: Tensor, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) ‖ p(y))) per split (Salimans et al.), mean and standard deviation."""
    p = _f64(probabilities)
    splits = max(1, min(splits, len(p)))
    size = len(p) // splits  # equal splits; the remainder is left out, as Salimans et al.'s code does
    scores = []
    for part in p[: size * splits].split(size):
        marginal = part.mean(0, keepdim=True)
        kl = (part * (part.clamp_min(1e-30).log() - marginal.clamp_min(1e-30).log())).sum(1)
        scores.append(kl.mean().exp())
    values = torch.stack(scores)
    return float(values.mean()), float(values.std()) if len(values) > 1 else 0.0


def _kth_neighbour_radii(x: Tensor, k: int, chunk: int = 1024) -> Tensor:
    """Distance from each point to its k-th nearest other point (rows in chunks to bound memory)."""
    return torch.cat([torch.cdist(x[i : i + chunk], x).kthvalue(k + 1, dim=1).values for i in range(0, len(x), chunk)])


def _inside_any_ball(points: Tensor, centres: Tensor, radii: Tensor, chunk: int = 1024) -> Tensor:
    """For each point, whether it lies in at least one ball (centre, radius)."""
    return torch.cat([(torch.cdist(points[i : i + chunk], centres) <= radii[None, :]).any(1)
                      for i in range(0, len(points), chunk)])  # fmt: skip


def precision_recall(real: Tensor, fake: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al.): the share of generated samples inside
    the real manifold (the union of k-NN balls of real samples), and of real inside the generated one."""
    real, fake = _f64(real).flatten(1), _f64(fake).flatten(1)
    precision = _inside_any_ball(fake, real, _kth_neighbour_radii(real, k)).double().mean()
    recall = _inside_any_ball(real, fake, _kth_neighbour_radii(fake, k)).double().mean()
    return float(precision), float(recall)


def density_coverage(real: Tensor, fake: Tensor, k: int = 5, chunk: int = 1024) -> tuple[float, float]:
    """Density and coverage (Naeem et al.): how many real k-NN balls hold each generated sample,
    on average over k; and the share of real balls that hold at least one generated sample."""
    real, fake = _f64(real).flatten(1), _f64(fake).flatten(1)
    radii = _kth_neighbour_radii(real, k)
    held, covered = 0.0, []
    for i in range(0, len(real), chunk):
        inside = torch.cdist(real[i : i + chunk], fake) <= radii[i : i + chunk, None]  # real × fake
        held += float(inside.double().sum())
        covered.append(inside.any(1))
    return held / (k * len(fake)), float(torch.cat(covered).double().mean())
