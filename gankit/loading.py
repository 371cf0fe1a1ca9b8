"""Reading a trained GAN back from a run: `load` finds the newest readable checkpoint (or takes
one checkpoint or generator file) and rebuilds the model, never unpickling; `LoadedGAN` samples,
interpolates, translates, evaluates and exports it.

Sampling needs only the checkpoint; a run's dataset is read (lazily) only to evaluate.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from . import checkpoint
from .arguments import TRUNCATION_SWEEP, check_count, check_seed, check_truncation
from .config import resolve
from .data import Target, TargetInfo, build_target
from .errors import CheckpointError, ConfigError, GankitError, RunError
from .export import check_request, write_export
from .interpolate import WALKS
from .metrics.images import ImageMetrics
from .models import build_model
from .recipe import GAN
from .runtime import check_memory, resolve_device

log = logging.getLogger("gankit")


class LoadedGAN:
    """A trained GAN read back from a run: its networks, config and step, ready to sample.

    Sampling needs only the checkpoint; the dataset is read (lazily) only to evaluate.
    """

    def __init__(self, gan: GAN, info: TargetInfo, config: dict[str, Any], step: int, source: Path) -> None:
        self.gan, self.info, self.config, self.step, self.source = gan, info, config, step, source
        self._target: Target | None = None

    @property
    def target(self) -> Target:
        """The run's target with its data (read on first use)."""
        if self._target is None:
            self._target = build_target(self.config["data"])
        return self._target

    @property
    def generator(self) -> nn.Module:
        """The generator as a plain torch.nn.Module (noise, and labels if conditional, in; samples out).
        With EMA enabled in the run this is the averaged generator, the one samples come from."""
        return self.gan.sampling_generator

    @property
    def device(self) -> torch.device:
        return next(self.gan.parameters()).device

    @property
    def num_classes(self) -> int:
        return getattr(self.gan, "num_classes", 0)

    @property
    def translates(self) -> bool:
        """Whether the model translates input images (Pix2Pix…) rather than sampling from noise."""
        return self.gan.kind == "translation"

    def require(self, kind: str) -> None:
        """A RunError when this run's model is not of `kind` ("generative" or "translation"),
        saying what to use instead."""
        if self.gan.kind == kind:
            return
        if self.translates:
            what, instead = "translates input images", "gankit translate RUN --input FILE|FOLDER --out FOLDER"
        else:
            what, instead = "generates from noise", "gankit sample RUN --n N --out …"
        raise RunError(f"{self.source} {what} (model {self.config['model']['name']}); use {instead}")

    def _rng(self, seed: int | None) -> torch.Generator:
        rng = torch.Generator(device=self.device)
        if seed is None:
            rng.seed()
        else:
            rng.manual_seed(check_seed(seed))
        return rng

    def labels_for(self, n: int, label: int | Sequence[int] | Tensor | None) -> Tensor | None:
        """Labels for `n` samples from one class id, a list of ids, or None (random / unconditional)."""
        if label is None:
            return None
        if not self.num_classes:
            raise RunError(f"{self.source} is not a class-conditional model: it takes no class")
        labels = torch.as_tensor(label, dtype=torch.long, device=self.device).flatten()
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n:
            raise RunError(f"got {labels.numel()} labels for {n} samples")
        bad = labels[(labels < 0) | (labels >= self.num_classes)]
        if bad.numel():
            raise RunError(f"class {int(bad[0])} is outside this model's classes 0–{self.num_classes - 1}")
        return labels

    @contextlib.contextmanager
    def truncated(self, truncation: float | None) -> Iterator[None]:
        """Sample with noise truncated to [−t, t] inside the block (None: as the run's config says)."""
        truncation = check_truncation(truncation)
        if truncation is None:
            yield
            return
        self.require("generative")
        kept = self.gan.truncation
        try:
            self.gan.set_truncation(truncation)
        except ConfigError as exc:
            raise RunError(f"{self.source}: {exc}") from None
        try:
            yield
        finally:
            self.gan.truncation = kept

    def sample(
        self,
        n: int,
        seed: int | None = None,
        label: int | Sequence[int] | Tensor | None = None,
        truncation: float | None = None,
    ) -> Tensor:
        """`n` generated samples; the same `seed` gives the same samples; `label` picks classes;
        `truncation` t draws every noise entry inside [−t, t] (the truncation trick)."""
        self.require("generative")
        check_memory(check_count("n", n) * math.prod(self.info.shape), f"{n:,} samples", "n", RunError)
        with self.truncated(truncation):
            return self.gan.generate(n, self._rng(seed), self.labels_for(n, label))[0]

    @property
    def domains(self) -> tuple[str, ...]:
        """The domains a multi-domain translation run translates among (empty for one-way models)."""
        return tuple(getattr(self.gan, "domains", ()))

    def check_domain(self, to: str | Sequence[str] | Tensor | None) -> None:
        """A RunError unless `to` names a target domain of this run (and it has several) or is None
        for a one-way model."""
        if isinstance(to, Tensor):  # label vectors: their shape is checked against the images when translating
            return
        if not self.domains:
            if to is not None:
                raise RunError(f"{self.source} translates one way (model {self.config['model']['name']}); it "
                               "takes no target domain (--to)")  # fmt: skip
            return
        if to is None:
            raise RunError(f"{self.source} translates among {', '.join(self.domains)}: say which to translate to "
                           "(--to, or to=…)")  # fmt: skip
        try:
            self.gan.labels(to, 1)
        except GankitError as exc:
            raise RunError(f"{self.source}: {exc}") from None

    def translate(
        self,
        images: Tensor,
        seed: int | None = 0,
        batch_size: int = 16,
        to: str | Sequence[str] | Tensor | None = None,
    ) -> Tensor:
        """Translations of `images` (uint8 N×C×H×W pictures, or floats in the model's range) as
        uint8 N×C×H×W; `seed` fixes the dropout of a model evaluated as in training; `to` names the
        target domain of a multi-domain model ("B", "dog", or attributes to set: "Blond_Hair,Young")."""
        self.require("translation")
        self.check_domain(to)
        return self.gan.translate_images(images.to(self.device), self.info, seed, batch_size, to)

    def images(
        self,
        n: int,
        seed: int | None = None,
        label: int | Sequence[int] | Tensor | None = None,
        truncation: float | None = None,
    ) -> Tensor:
        """`n` generated images as uint8 N×C×H×W."""
        return self.to_images(self.sample(n, seed, label, truncation))

    def to_images(self, samples: Tensor) -> Tensor:
        """Generated samples as uint8 N×C×H×W images; a RunError when the run is not an image one."""
        images = self.info.to_images(samples)
        if images is None:
            raise RunError(f"{self.source} does not generate images (its target is {self.config['data']['target']})")
        return images

    def export(self, out: str | Path, format: str = "torchscript", batch: int | None = None) -> Path:
        """Write the sampling generator to `out` as a file that loads without gankit (torchscript,
        onnx or pt2) taking `batch` samples per call (default: any number): noise (and class
        ids) in, samples out; see gankit/export.py."""
        out = check_request(None, out, format, batch)
        self.require("generative")
        return write_export(self.gan, self.config, self.info, self.step, out, format, batch)

    def interpolate(
        self,
        steps: int = 10,
        paths: int = 4,
        mode: str = "slerp",
        seed: int | None = None,
        label: int | Sequence[int] | Tensor | None = None,
    ) -> Tensor:
        """Samples along `paths` latent walks of `steps` points each: shape (paths, steps, *sample)."""
        self.require("generative")
        check_count("steps", steps)
        check_count("paths", paths)
        if mode not in WALKS:
            raise RunError(f"unknown interpolation {mode!r} (allowed: {', '.join(WALKS)})")
        rng = self._rng(seed)
        ends = self.gan.latent.sample(2 * paths, rng)
        walk = WALKS[mode](ends[:paths], ends[paths:], torch.linspace(0, 1, steps, device=self.device))
        noise = walk.transpose(0, 1).reshape(paths * steps, -1)  # path-major
        labels = self.labels_for(paths, label)
        if labels is None:
            labels = self.gan.sample_labels(paths, rng)
        if labels is not None:
            labels = labels.repeat_interleave(steps)
        samples, _ = self.gan.generate(paths * steps, rng, labels, noise)
        return samples.view(paths, steps, *samples.shape[1:])

    def evaluate(
        self,
        n: int | None = None,
        seed: int | None = None,
        metrics: Sequence[str] | None = None,
        features: str | None = None,
        n_real: int | None = None,
        inception_resize: str | None = None,
        truncation: float | None = None,
    ) -> dict[str, Any]:
        """The target's measures and the image metrics of the run's config, with the training-time
        protocol unless `n`, `seed`, `metrics` (fid, kid, is, pr, dc), `features`, `n_real` (real
        images in the reference), `inception_resize` (tensorflow, pytorch) or `truncation` say otherwise."""
        asked = {"metrics": metrics, "features": features, "n_real": n_real, "inception_resize": inception_resize}
        overrides = {f"eval.{k}": v for k, v in asked.items() if v is not None}
        ev = resolve(base=self.config, overrides=overrides)["eval"] if overrides else self.config["eval"]
        n = ev["n_samples"] if n is None else check_count("n", n)
        seed = ev["seed"] if seed is None else check_seed(seed)
        ev = {**ev, "n_samples": n}
        image_metrics = ImageMetrics.from_config(ev, self.target, self.config["data"]["target"], self.device)
        self.gan.check_evaluation(self.target, ev)
        with self.truncated(truncation):
            snapshot = self.gan.snapshot(self.target, n, seed, True, image_metrics)
        return {
            "step": self.step,
            "checkpoint": str(self.source),
            "n_samples": n,
            "seed": seed,
            "measures": snapshot.measures,
            "protocol": snapshot.protocol,
        }

    def truncation_sweep(
        self,
        values: Sequence[float] = TRUNCATION_SWEEP,
        n: int | None = None,
        seed: int | None = None,
        metrics: Sequence[str] | None = None,
        **protocol: Any,
    ) -> list[dict[str, Any]]:
        """The measures at each truncation in `values`, from the same evaluation noise (each t
        moves every noise entry monotonically towards 0): quality against diversity. `protocol`
        takes `evaluate`'s features, n_real and inception_resize."""
        values = [check_truncation(t) for t in values]
        if not values:
            raise RunError("a truncation sweep needs at least one value")
        return [
            {"truncation": t, **self.evaluate(n, seed, metrics, truncation=t, **protocol)["measures"]} for t in values
        ]


def load(path: str | Path, device: str | torch.device = "cpu") -> LoadedGAN:
    """Load a run folder (its newest checkpoint) or one checkpoint file, never unpickling."""
    if not isinstance(path, (str, Path)):
        raise RunError(f"load needs a run folder or a checkpoint file (a path), got {path!r}")
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path} does not exist (expected a run folder or a checkpoint file)")
    target_device = resolve_device(str(device))  # a bad name is a ConfigError before any work
    if not path.is_dir():
        return _load_checkpoint(path, target_device)
    found = checkpoint.list_checkpoints(path / "checkpoints")
    if not found:
        if not (path / "config.json").exists():
            raise RunError(f"{path} is not a gankit run folder (no config.json)")
        raise CheckpointError(f"run {path} has no checkpoint yet")
    errors = []
    for _, candidate in reversed(found):  # the newest readable one, as --resume takes
        try:
            loaded = _load_checkpoint(candidate, target_device)
        except (CheckpointError, ConfigError) as exc:
            errors.append(str(exc))
            continue
        for error in errors:
            log.warning("skipping %s", error)
        return loaded
    raise CheckpointError(f"no readable checkpoint in {path / 'checkpoints'}: {errors[0]}")


def _load_checkpoint(path: Path, device: torch.device) -> LoadedGAN:
    """One checkpoint file (or a run's generator.safetensors: its sampling generator alone) as a
    LoadedGAN; its header is checked like a user's config, and the model (or generator) it
    describes must be no larger than the weights the file holds."""
    generator_only = checkpoint.holds_generator_only(path)
    keys = ("gan", "config", "step", "target")
    state = checkpoint.load_generator(path) if generator_only else checkpoint.load(path, keys=keys)
    try:
        step = int(state["step"])
        info = TargetInfo.from_dict(state["target"])
        if not isinstance(state["gan"], dict):
            raise TypeError(f"gan is {type(state['gan']).__name__}, not a table of tensors")
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has a damaged header ({type(exc).__name__}: {exc})") from None
    try:
        config = resolve(base=state["config"])
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint {path} holds an invalid config: {exc}") from None
    stored = sum(t.numel() for t in state["gan"].values() if isinstance(t, Tensor))
    with torch.device("meta"):  # sized without allocating anything
        model = build_model(config, info)
        needed = sum(t.numel() for t in (model.sampling_generator if generator_only else model).state_dict().values()
                     if isinstance(t, Tensor))  # fmt: skip
    if needed > stored:
        raise CheckpointError(f"checkpoint {path}: its config describes a model of {needed:,} values but the file "
                              f"holds {stored:,}; refusing to build it")  # fmt: skip
    gan = build_model(config, info)
    if generator_only:
        checkpoint.load_module(gan.sampling_generator, state["gan"], f"generator file {path}")
    else:
        gan.load_weights(state["gan"], f"checkpoint {path}")
    gan.to(device).eval()
    return LoadedGAN(gan, info, config, step, path)
