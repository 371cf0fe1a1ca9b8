"""Presets: named starting configs, plain data. Every field can be overridden."""

from __future__ import annotations

import copy
from typing import Any

from .errors import ConfigError

DEFAULT_PRESET = "ring"

# The 2-D presets share one set of networks and optimiser settings so that targets and
# objectives can be compared on equal terms.
_TOY_2D_MODEL = {
    "name": "mlp",
    "latent_dim": 2,
    "latent": "normal",
    "g_hidden": [128, 128, 128],
    "g_activation": ["tanh"],
    "d_hidden": [128, 128, 128],
    "d_activation": ["tanh"],
}
_TOY_2D_OPTIM = {
    "D": {"name": "Adam", "lr": 1e-3, "betas": [0.5, 0.999]},
    "G": {"name": "Adam", "lr": 1e-3, "betas": [0.5, 0.999]},
}
_TOY_2D_TRAIN = {"steps": 3000, "log_every": 50, "eval_every": 250, "checkpoint_every": 500, "threads": 1}
# One CPU thread: these networks are too small to share out (the ring trained at 220 it/s on one
# thread, 184 on two, 59 on two beside one busy process: bench/whole_run.py's machine), and the
# other cores stay free for the pictures and measures, which run beside training.
# tanh networks at lr 1e-3 covered 8/8 ring modes in 8 of 8 seeds (91–95% high quality) after
# 2000 iterations; ReLU/LeakyReLU networks at 1e-4–5e-4 collapsed to 1–6 modes in some seeds.


def _toy_2d(target: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "data": {"batch_size": 256, **target},
        "model": _TOY_2D_MODEL,
        "loss": {"objective": "non-saturating"},
        "optim": _TOY_2D_OPTIM,
        "train": _TOY_2D_TRAIN,
    }


PRESETS: dict[str, dict[str, Any]] = {
    "gaussian-1d": {
        "description": "seed 000: learn N(4, 1.5) from uniform noise; D sees each sample's [mean, std]",
        "data": {"target": "gaussian-1d", "batch_size": 100, "mean": 4.0, "std": 1.5, "length": 1000},
        "model": {
            "name": "mlp",
            "latent_dim": 1000,
            "latent": "uniform",
            "g_hidden": [32, 32],
            "g_activation": ["relu", "sigmoid"],
            "g_output": "linear",
            "d_hidden": [32, 32],
            "d_activation": ["relu", "sigmoid"],
            "d_features": "mean-std",
        },
        "loss": {"objective": "non-saturating"},
        "optim": {"D": {"name": "SGD", "lr": 0.01}, "G": {"name": "SGD", "lr": 0.05}},
        "train": {
            "steps": 200,
            "d_steps": 100,
            "g_steps": 100,
            "log_every": 5,
            "eval_every": 20,
            "checkpoint_every": 50,
            "threads": 1,
        },
    },
    "gaussian-2d": {
        "description": "seed 004: a linear G learns N(0, I)·A + b; 2→5→3 tanh D with a 2-class softmax",
        "data": {"target": "gaussian-2d", "batch_size": 4, "size": 1000},
        "model": {
            "name": "mlp",
            "latent_dim": 2,
            "latent": "normal",
            "g_hidden": [],
            "d_hidden": [5, 3],
            "d_activation": ["tanh"],
            "d_head": "softmax2",
            "init": "normal-0.02",
        },
        "loss": {"objective": "non-saturating"},
        # β1 = 0.5 as in DCGAN: with Adam's default 0.9, D's tanh units saturate and G's mean
        # stays 0.4–0.7 off the target in 2 of 4 seeds (measured; see docs/presets.md)
        "optim": {
            "D": {"name": "Adam", "lr": 0.05, "betas": [0.5, 0.999]},
            "G": {"name": "Adam", "lr": 0.01, "betas": [0.5, 0.999]},
        },
        # 1000 points in batches of 4: 250 iterations an epoch, 10 epochs; a record per epoch
        "train": {"steps": 2500, "log_every": 250, "eval_every": 250, "checkpoint_every": 500, "threads": 1},
    },
    "ring": _toy_2d(
        {"target": "ring", "modes": 8, "radius": 2.0, "std": 0.02},
        "8 Gaussians on a circle of radius 2 (std 0.02), scored by mode coverage",
    ),
    # PacGAN's lattice. The plain game covers 11 ± 6 of its 25 modes (3 seeds); the relativistic
    # loss with zero-centred R1 and R2 (R3GAN's recipe) and G's moving average, trained 20,000
    # iterations, covered 25 in each of 10 seeds with 95.8 ± 1.1% high quality (docs/mode-collapse.md)
    "grid": {
        **_toy_2d(
            {"target": "grid", "side": 5, "spacing": 2.0, "std": 0.05},
            "25 Gaussians on a 5×5 lattice (spacing 2, std 0.05), scored by mode coverage: relativistic loss "
            "with R1 = R2 = 0.05 and G's moving average, 20,000 iterations (every mode in 10 of 10 seeds)",
        ),
        "loss": {"objective": "relativistic", "r1": 0.05, "r2": 0.05},
        "train": {
            **_TOY_2D_TRAIN,
            "steps": 20000,
            "log_every": 100,
            "eval_every": 1000,
            "checkpoint_every": 2000,
            "ema_decay": 0.999,
        },  # fmt: skip
    },
    "moons": _toy_2d({"target": "moons", "noise": 0.05}, "two interleaving half circles"),
    "spiral": _toy_2d({"target": "spiral", "turns": 2.0, "radius": 2.0, "noise": 0.05}, "a two-turn spiral"),
}


def _adam(lr_d: float, lr_g: float, betas: list[float]) -> dict[str, Any]:
    return {"D": {"name": "Adam", "lr": lr_d, "betas": betas}, "G": {"name": "Adam", "lr": lr_g, "betas": betas}}


# Image presets. The data root comes from $GANKIT_DATA (or data.root); see docs/datasets.md.
_DCGAN_OPTIM = _adam(2e-4, 2e-4, [0.5, 0.999])
_IMAGE_TRAIN = {
    "steps": 5000,
    "log_every": 100,
    "eval_every": 1000,
    "grid_every": 250,
    "checkpoint_every": 1000,
}
# seed 003's MNIST GAN, with the hidden layer its code skips by mistake put back in use
_MNIST_MLP_MODEL = {
    "name": "mlp",
    "latent_dim": 100,
    "latent": "uniform-symmetric",
    "g_hidden": [128],
    "g_activation": ["relu"],
    "g_output": "sigmoid",
    "d_hidden": [128],
    "d_activation": ["relu"],
    "init": "xavier",
}
_MNIST_MLP = {
    "data": {"target": "mnist", "batch_size": 128, "range": "zero-one"},
    "model": _MNIST_MLP_MODEL,
    "loss": {"objective": "non-saturating"},
    # TensorFlow's AdamOptimizer() defaults, as the seed uses
    "optim": _adam(1e-3, 1e-3, [0.9, 0.999]),
    "train": {"steps": 20000, "log_every": 200, "eval_every": 2000, "grid_every": 1000, "checkpoint_every": 5000},
    "eval": {"grid_rows": 4, "grid_cols": 4},
}


def _dcgan(target: str, description: str, conditional: bool = False, **data: Any) -> dict[str, Any]:
    return {
        "description": description,
        "data": {"target": target, "batch_size": 128, **data},
        "model": {"name": "dcgan", "latent_dim": 100, "g_width": 64, "d_width": 64, "conditional": conditional},
        "loss": {"objective": "non-saturating"},
        "optim": _DCGAN_OPTIM,
        "train": _IMAGE_TRAIN,
        "eval": {"grid_rows": 8, "grid_cols": 8 if not conditional else 10},
    }


PRESETS.update(
    {
        "mnist-mlp": {
            "description": "seed 003: z(100, uniform ±1) → 128 ReLU → 784 sigmoid; D 784 → 128 ReLU → 1; Adam, batch 128",
            **_MNIST_MLP,
        },
        "cgan-mlp": {
            "description": "seed 002's conditional GAN on seed 003's MNIST MLPs (label embedding joined to z and x)",
            **_MNIST_MLP,
            "model": {**_MNIST_MLP_MODEL, "conditional": True, "embed_dim": 10},
            "eval": {"grid_rows": 10, "grid_cols": 10},
        },
        "dcgan": _dcgan("mnist", "DCGAN on MNIST at 28×28 (seeds 001–003's rules; Adam 2e-4, β1 0.5, batch 128)"),
        "dcgan-fashion": _dcgan("fashion-mnist", "DCGAN on Fashion-MNIST at 28×28"),
        "dcgan-cifar10": _dcgan("cifar10", "DCGAN on CIFAR-10 at 32×32 RGB (the local subset: 4,000 images)"),
        "cgan": _dcgan("mnist", "class-conditional DCGAN on MNIST: one row per digit in the grids", conditional=True),
    }
)


# The stabilised family (objectives issue). wgan, wgan-gp and lsgan default to the ring with
# the toy networks; sngan and sagan to CIFAR-10 with their ResNets. All of them run on any
# target: `--set data.target=...` (the ResNet model also builds residual MLPs for vectors).
def _stabilised(description: str, loss: dict, optim: dict, train: dict, **sections: Any) -> dict[str, Any]:
    toy = _toy_2d({"target": "ring", "modes": 8, "radius": 2.0, "std": 0.02}, description)
    return {**toy, "loss": loss, "optim": optim, "train": {**_TOY_2D_TRAIN, **train}, **sections}


# Critics get ReLU networks, as in the WGAN-GP paper's toy code: with weights clipped to ±0.01 a
# tanh critic is nearly linear and WGAN found 0 of 8 ring modes in 3000 iterations (2 seeds);
# with ReLU, 6 (WGAN) and 8 (WGAN-GP, 31% high quality). Measured: docs/objectives.md.
_RELU_TOY_MODEL = {**_TOY_2D_MODEL, "g_activation": ["relu"], "d_activation": ["relu"]}


_RESNET_CIFAR = {
    "data": {"target": "cifar10", "batch_size": 64},
    "eval": {"grid_rows": 8, "grid_cols": 8},
}

PRESETS.update(
    {
        "wgan": _stabilised(
            "WGAN (Arjovsky et al.): a critic with weights clipped to ±0.01, RMSprop 5e-5, 5 critic steps",
            {"objective": "wasserstein", "clip": 0.01},
            {"D": {"name": "RMSprop", "lr": 5e-5}, "G": {"name": "RMSprop", "lr": 5e-5}},
            {"d_steps": 5},
            model=_RELU_TOY_MODEL,
        ),
        "wgan-gp": _stabilised(
            "WGAN-GP (Gulrajani et al.): gradient penalty λ = 10, Adam 1e-4 β = (0.5, 0.9), 5 critic steps",
            {"objective": "wasserstein", "gp": 10.0},
            _adam(1e-4, 1e-4, [0.5, 0.9]),
            {"d_steps": 5},
            model=_RELU_TOY_MODEL,
        ),
        "lsgan": _stabilised(
            "LSGAN (Mao et al.): least-squares objective, Adam 2e-4 β1 0.5",
            {"objective": "least-squares"},
            _adam(2e-4, 2e-4, [0.5, 0.999]),
            {},
        ),
        "sngan": {
            **_stabilised(
                "SN-GAN (Miyato et al.): CIFAR-10 ResNet, spectral norm in D, hinge, Adam 2e-4 β = (0, 0.9), 5 D steps",
                {"objective": "hinge"},
                _adam(2e-4, 2e-4, [0.0, 0.9]),
                {"d_steps": 5, "steps": 50000, "log_every": 100, "eval_every": 2500, "grid_every": 1000},
            ),
            **_RESNET_CIFAR,
            "model": {"name": "resnet", "g_width": 256, "d_width": 128, "spectral_norm": "D"},
        },
        "sagan": {
            **_stabilised(
                "SAGAN (Zhang et al.): ResNet with self-attention at 16×16, spectral norm in G and D, hinge, "
                "lr_D 4e-4 / lr_G 1e-4 β = (0, 0.9)",
                {"objective": "hinge"},
                _adam(4e-4, 1e-4, [0.0, 0.9]),
                {"steps": 50000, "log_every": 100, "eval_every": 2500, "grid_every": 1000},
            ),
            **_RESNET_CIFAR,
            "model": {"name": "resnet", "g_width": 256, "d_width": 128, "spectral_norm": "both", "attention": 16},
        },
        # BigGAN's own recipe: hinge, Adam β = (0, 0.999) with lr_D 2e-4 and lr_G 5e-5 and 2 D steps
        # per G step, spectral norm in G and D, orthogonal regularisation β = 1e-4, G's average
        # (0.9999, from iteration 1,000); the CIFAR width of SN-GAN and SAGAN's attention at 16×16.
        "biggan": {
            **_stabilised(
                "BigGAN (Brock et al.): hierarchical latents and a shared class embedding in G's conditional "
                "norms, projection D, attention at 16×16, spectral norm in G and D, hinge, orthogonal "
                "regularisation, 2 D steps, G's moving average",
                {"objective": "hinge"},
                _adam(2e-4, 5e-5, [0.0, 0.999]),
                {
                    "d_steps": 2,
                    "steps": 50000,
                    "log_every": 100,
                    "eval_every": 2500,
                    "grid_every": 1000,
                    "ema_decay": 0.9999,
                    "ema_start": 1000,
                },  # fmt: skip
            ),
            **_RESNET_CIFAR,
            "model": {"name": "biggan", "g_width": 256, "d_width": 128, "spectral_norm": "both", "attention": 16},
        },
        # Progressive GAN as its paper trains: WGAN-GP (λ = 10) with the drift term ε = 0.001, one
        # D update per G update, Adam lr 1e-3 β = (0, 0.99), batch 16, 800k images per fade-in and
        # per stable phase, G's average 0.999. CIFAR-10 grows 4 → 8 → 16 → 32: 7 phases of 50,000
        # iterations, the last of which ends the run.
        "progan": {
            **_stabilised(
                "Progressive GAN (Karras et al.): G and D grown 4 → 32 px on CIFAR-10, each resolution faded in "
                "over 800k images; equalised learning rate, pixel norm, minibatch std; WGAN-GP with drift",
                {"objective": "wasserstein", "gp": 10.0, "drift": 0.001},
                _adam(1e-3, 1e-3, [0.0, 0.99]),
                {
                    "steps": 350_000,
                    "log_every": 500,
                    "eval_every": 25_000,
                    "grid_every": 5000,
                    "checkpoint_every": 5000,
                    "ema_decay": 0.999,
                },  # fmt: skip
            ),
            "data": {"target": "cifar10", "batch_size": 16},
            "model": {"name": "progan"},
            "eval": {"grid_rows": 8, "grid_cols": 8},
        },
    }
)


# Pix2Pix as its authors train facades: labels → photos (BtoA), 256 px loaded at 286 and randomly
# cropped and mirrored, batch 1, Adam 2e-4 β = (0.5, 0.999), 100 epochs at a constant rate then 100
# decaying linearly to zero (400 pairs: 80,000 iterations, the last 40,000 decaying).
PRESETS["pix2pix"] = {
    "description": "Pix2Pix on CMP facades (labels → photos, 256 px): U-Net G, 70×70 PatchGAN D, GAN + 100·L1, "
    "batch 1, 200 epochs with linear decay over the last 100",
    "data": {"target": "facades", "batch_size": 1, "resolution": 256, "load_size": 286, "mirror": True},
    "model": {"name": "pix2pix"},
    "loss": {"objective": "non-saturating"},
    "optim": {
        "D": {"name": "Adam", "lr": 2e-4, "betas": [0.5, 0.999], "decay": 40000},
        "G": {"name": "Adam", "lr": 2e-4, "betas": [0.5, 0.999], "decay": 40000},
    },
    "train": {"steps": 80000, "log_every": 400, "eval_every": 4000, "grid_every": 2000, "checkpoint_every": 4000},
    "eval": {"n_samples": 106, "grid_rows": 6, "best": "l1"},
}

# CycleGAN as its authors train horse2zebra: 256 px loaded at 286, randomly cropped and mirrored,
# batch 1, least squares, λ_cycle = 10, identity 0.5·λ, pools of 50, Adam 2e-4 β = (0.5, 0.999),
# 100 epochs at a constant rate then 100 decaying to zero (an epoch: the larger domain, 1,334 zebras).
PRESETS["cyclegan"] = {
    "description": "CycleGAN (unpaired two-domain translation, 256 px): ResNet Gs, PatchGAN Ds, least squares, "
    "cycle + identity losses, pools of 50, batch 1, linear decay over the second half (set data.path)",
    "data": {"target": "unpaired", "batch_size": 1, "resolution": 256, "load_size": 286, "mirror": True},
    "model": {"name": "cyclegan"},
    "loss": {"objective": "least-squares"},
    "optim": {
        "D": {"name": "Adam", "lr": 2e-4, "betas": [0.5, 0.999], "decay": 133400},
        "G": {"name": "Adam", "lr": 2e-4, "betas": [0.5, 0.999], "decay": 133400},
    },
    "train": {"steps": 266800, "log_every": 500, "eval_every": 13340, "grid_every": 2000, "checkpoint_every": 5000},
    "eval": {"n_samples": 200, "grid_rows": 4},
}

# StarGAN as its authors train CelebA: 128 px, five attributes, batch 16, WGAN-GP (λ 10), λ_cls 1,
# λ_rec 10, 5 D updates per G update, Adam 1e-4 β = (0.5, 0.999); 200,000 D updates (40,000
# iterations here) with the rates decaying linearly over the second half.
PRESETS["stargan"] = {
    "description": "StarGAN (multi-domain translation, CelebA attributes at 128 px): label planes into G, D with a "
    "critic and a domain classifier, WGAN-GP, 5 D steps per G step (set data.path)",
    "data": {
        "target": "attributes",
        "batch_size": 16,
        "resolution": 128,
        "mirror": True,
        "attributes": ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"],
        "held_out": 2000,
    },
    "model": {"name": "stargan"},
    "loss": {"objective": "wasserstein", "gp": 10.0},
    "optim": {
        "D": {"name": "Adam", "lr": 1e-4, "betas": [0.5, 0.999], "decay": 20000},
        "G": {"name": "Adam", "lr": 1e-4, "betas": [0.5, 0.999], "decay": 20000},
    },
    "train": {
        "steps": 40000,
        "d_steps": 5,
        "log_every": 200,
        "eval_every": 2000,
        "grid_every": 1000,
        "checkpoint_every": 2000,
    },
    "eval": {"n_samples": 500, "grid_rows": 5},
}


def get_preset(name: str) -> dict[str, Any]:
    """The config layer of preset `name` (without its description)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (allowed: {', '.join(sorted(PRESETS))})")
    return {k: copy.deepcopy(v) for k, v in PRESETS[name].items() if k != "description"}


def describe_presets() -> list[tuple[str, str]]:
    return [(name, PRESETS[name]["description"]) for name in sorted(PRESETS)]
