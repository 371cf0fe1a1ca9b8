"""The adversarial objectives a config can name (`loss.objective`): their help lines, and the
classes in `gankit/losses.py` that compute them (imported only when training needs them).

Kept free of torch so that validating a config starts instantly. A new objective is a class
in losses.py plus one `OBJECTIVES.declare` line here.
"""

from __future__ import annotations

from .registries import OBJECTIVES

OBJECTIVES.declare(
    "minimax", "the paper's value function: G minimises log(1 − D(G(z))) (saturates)", item="gankit.losses:Minimax"
)
OBJECTIVES.declare(
    "non-saturating",
    "G maximises log D(G(z)) instead: strong gradients when D wins",
    item="gankit.losses:NonSaturating",
)
OBJECTIVES.declare(
    "least-squares",
    "LSGAN (Mao et al.): D regresses real to 1 and generated to 0; G pulls to 1",
    item="gankit.losses:LeastSquares",
)
OBJECTIVES.declare(
    "wasserstein",
    "WGAN (Arjovsky et al.): a critic estimates the Wasserstein-1 distance",
    item="gankit.losses:Wasserstein",
)
OBJECTIVES.declare(
    "hinge",
    "hinge loss (SN-GAN, SAGAN): D wants real ≥ 1 and generated ≤ −1; G raises D(G(z))",
    item="gankit.losses:Hinge",
)
OBJECTIVES.declare(
    "relativistic",
    "RpGAN (Jolicoeur-Martineau; R3GAN): D scores each real sample above a generated one, G the reverse",
    item="gankit.losses:RelativisticPairing",
)

__all__ = ["OBJECTIVES"]
