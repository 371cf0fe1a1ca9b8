"""The config's sections as declared data: each field's type, default, help line and limits.

`config.py` resolves and validates a config against these; `gankit config --explain` prints them.
Kept torch-free, like every settings module, so that checking a config starts instantly.
"""

from __future__ import annotations

from dataclasses import dataclass

from .settings import BEST_MEASURES, list_setting, setting

AUGMENT_POLICIES = ("color", "translation", "cutout")  # gankit/diffaugment.py's (kept torch-free here)


@dataclass
class TrainSettings:
    steps: int = setting(2000, "iterations; each is d_steps D updates then g_steps G updates", min=1)
    d_steps: int = setting(1, "discriminator updates per iteration", min=1)
    g_steps: int = setting(1, "generator updates per iteration", min=1)
    log_every: int = setting(100, "iterations between metric records and progress updates", min=1)
    eval_every: int = setting(0, "iterations between evaluations (0: only at the end)", min=0)
    plot_every: int = setting(0, "iterations between picture refreshes (0: with each evaluation)", min=0)
    checkpoint_every: int = setting(1000, "iterations between checkpoints (0: only at the end and on interrupt)", min=0)
    keep_checkpoints: int = setting(3, "how many recent checkpoints to keep", min=1)
    grid_every: int = setting(0, "iterations between sample grids of image models (0: with the pictures)", min=0)
    accumulate: int = setting(
        1, "micro-batches of data.batch_size summed into each update: an effective batch this many times larger "
        "in the memory of one (equal to it for networks without batch statistics)", min=1)  # fmt: skip
    ema_decay: float = setting(
        0.0, "moving average of G's weights, used for sampling (0: off; e.g. 0.999)", min=0.0, max=0.999999
    )
    augment: list[str] = list_setting(
        [], "DiffAugment: policies every image D sees goes through, real and generated alike, differentiably: "
        "color, translation, cutout (e.g. color,translation,cutout; empty: off)", choices=AUGMENT_POLICIES,
        comma=True)  # fmt: skip
    ema_start: int = setting(0, "iterations before the average starts (G's weights are copied until then)", min=0)
    sync_batchnorm: bool = setting(False, "data parallelism: batch-norm statistics over all processes (CUDA)")
    dist_timeout: float = setting(600.0, "data parallelism: seconds a collective may wait before the run fails",
                                  min=1.0)  # fmt: skip
    tensorboard: str = setting(
        "auto", "TensorBoard event files: auto (when installed), on, off", choices=("auto", "on", "off")
    )
    precision: str = setting(
        "fp32",
        "arithmetic of the forward and backward passes: fp32, bf16 (autocast) or "
        "fp16 (autocast with a gradient scaler per player)",
        choices=("fp32", "bf16", "fp16"),
    )
    fast: str = setting(
        "auto",
        "the exact CUDA speed-ups (fused Adam/AdamW, channels-last and cuDNN autotuning for convolutional models, "
        "the CUDA graph): auto (chosen where they apply; the explicit switches win) or off (only the explicit ones)",
        choices=("auto", "off"),
    )
    fast_chosen: str = setting("", "written by the run: what train.fast chose, and why not the rest (informative)")
    channels_last: bool | None = setting(
        None, "keep convolution weights and activations channels-last (faster on GPUs; unset: train.fast decides)"
    )
    threads: int = setting(0, "CPU threads for the networks' arithmetic (0: PyTorch's default, one per core)", min=0)
    compile: bool = setting(False, "torch.compile every network (not D under a gradient penalty: double backward)")
    cuda_graph: bool | None = setting(
        None,
        "capture the whole training iteration as one CUDA graph and replay it (falls back to eager, with a "
        "logged reason, where it cannot; unset: train.fast decides)",
    )
    nonfinite: str = setting("stop", "a non-finite loss or gradient: stop (within one log interval, last finite "
                             "checkpoint kept) or skip the update (a host sync per update)", choices=("stop", "skip"))  # fmt: skip
    max_skips: int = setting(
        10, "with nonfinite = skip: skipped updates of one player in a row that stop the run", min=1
    )


@dataclass
class EvalSettings:
    n_samples: int = setting(2500, "generated samples per evaluation", min=1)
    seed: int = setting(1234, "seed of the evaluation noise and reference samples", min=0)
    metrics: list[str] = list_setting(
        [], "image metrics at each evaluation: fid, kid, is, pr (precision/recall), dc (density/coverage)",
        choices=("fid", "kid", "is", "pr", "dc"),
    )  # fmt: skip
    features: str = setting("domain", "feature space of the image metrics: domain (the dataset's classifier) or "
                            "inception (FID Inception-v3)", choices=("domain", "inception"))  # fmt: skip
    n_real: int = setting(0, "real images for the reference statistics (0: the run's data, up to 50,000)", min=0)
    inception_resize: str = setting(
        "tensorflow",
        "resize in front of the FID Inception: tensorflow (TF1 bilinear as TTUR and torch-fidelity, comparable "
        "with published FIDs) or pytorch (F.interpolate as pytorch-fid; gankit's numbers before this setting)",
        choices=("tensorflow", "pytorch"),
    )
    best: str = setting("", "keep checkpoints/best.safetensors at the best value of this measure (e.g. fid)",
                        choices=("", *sorted(BEST_MEASURES)))  # fmt: skip
    digits: bool = setting(
        False,
        "domain translation on digit domains: the share of translations read as the "
        "same digit as their input (gankit's MNIST LeNet; needs $GANKIT_DATA/mnist)",
    )
    truncation: float = setting(
        0.0, "truncation trick: sample with noise entries redrawn until inside [−t, t], in every evaluation, "
        "grid and `gankit sample` (BigGAN; 0: off; normal noise only)", min=0.0)  # fmt: skip
    grid_rows: int = setting(8, "rows of a sample grid (conditional models: one row per class)", min=1)
    grid_cols: int = setting(8, "columns of a sample grid", min=1)
    grid_scale: int = setting(0, "enlarge sample grids and walk GIFs this many times, pixels kept crisp "
                              "(0: automatic, each image at least 64 px)", min=0)  # fmt: skip


@dataclass
class LossSettings:
    objective: str = setting("non-saturating", "the adversarial objective", choices_from="objective")
    gp: float = setting(
        0.0, "weight λ of the WGAN-GP gradient penalty on real/generated interpolates (0: off)", min=0.0
    )
    gp_one_sided: bool = setting(False, "penalise only gradient norms above 1")
    r1: float = setting(0.0, "γ of the R1 penalty γ/2·E‖∇D(real)‖² (0: off)", min=0.0)
    r2: float = setting(0.0, "γ of the R2 penalty γ/2·E‖∇D(generated)‖² (0: off)", min=0.0)
    r_every: int = setting(1, "apply R1/R2 every k D updates, scaled by k (lazy regularisation)", min=1)
    drift: float = setting(0.0, "ε of the drift penalty ε·E[D(real)²] (Progressive GAN: 0.001; 0: off)", min=0.0)
    clip: float = setting(0.0, "clip every D weight into [−c, c] after each D update, as WGAN (0: off)", min=0.0)


@dataclass
class DataSettings:
    target: str = setting("ring", "what to learn", choices_from="target")
    batch_size: int = setting(64, "real samples per discriminator update", min=1)


@dataclass
class ModelSettings:
    name: str = setting("mlp", "the networks", choices_from="model")
    spectral_norm: str = setting(
        "none", "spectral normalisation of every layer of D, G, both or none", choices=("none", "D", "G", "both")
    )
    pack: int = setting(1, "PacGAN: D judges packs of this many samples, concatenated (1: off)", min=1)


@dataclass
class RootSettings:
    name: str = setting("", "run name (folder under the runs directory); empty: the preset's name")
    preset: str = setting("", "the preset this config started from (informative)")
    seed: int = setting(0, "seed for weights, data and noise", min=0)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps (unset: $GANKIT_DEVICE, else auto)")


SECTIONS: dict[str, type] = {
    "data": DataSettings,
    "model": ModelSettings,
    "loss": LossSettings,
    "train": TrainSettings,
    "eval": EvalSettings,
}
