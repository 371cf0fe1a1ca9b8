"""Latent walks: straight lines or great-circle arcs between noise vectors.

Written with tensor methods only, so that the command line can offer the walks' names
without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


def lerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """Points (1 − t)·z0 + t·z1 for each t: shape (len(t), *z0.shape)."""
    t = t.view(-1, *([1] * z0.dim()))
    return (1 - t) * z0 + t * z1


def slerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation along the arc between z0 and z1 (rows of z0/z1 are separate walks).

    For Gaussian noise this keeps the norm near that of typical samples, where a straight line
    would cut through the low-density middle of the ball. Nearly parallel pairs fall back to lerp.
    """
    z0n, z1n = z0 / z0.norm(dim=-1, keepdim=True), z1 / z1.norm(dim=-1, keepdim=True)
    omega = (z0n * z1n).sum(-1, keepdim=True).clamp(-1.0, 1.0).arccos()
    sin_omega = omega.sin()
    t = t.view(-1, *([1] * z0.dim()))
    arc = (((1 - t) * omega).sin() * z0 + (t * omega).sin() * z1) / sin_omega.clamp_min(1e-8)
    return lerp(z0, z1, t.flatten()).where(sin_omega.abs() < 1e-6, arc)


WALKS = {"linear": lerp, "slerp": slerp}
