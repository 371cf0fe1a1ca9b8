"""Image metrics of a GAN: FID, KID, IS, precision/recall and density/coverage of generated
images against the run's own data, in one feature space, with reference statistics cached by
dataset content and protocol, and the protocol returned beside every set of numbers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import Tensor

from ..atomic import atomic_write_bytes, file_lock
from ..errors import ConfigError
from ..settings import LOWER_IS_BETTER
from .classifier import content_hash
from .features import FeatureNetwork, domain_features, inception_features
from .scores import GaussianStats, density_coverage, fid, inception_score, kid, precision_recall

log = logging.getLogger("gankit")
METRICS = ("fid", "kid", "is", "pr", "dc")
FEATURES = ("domain", "inception")
MAX_REAL = 50_000  # the usual reference size; more adds time, not precision
KEEP = 10_000  # features kept for KID, precision/recall and density/coverage
KID_SUBSETS, KID_SUBSET_SIZE, PR_K, DC_K, IS_SPLITS = 100, 1000, 3, 5, 10
MIN_FAKE = 20  # fewer generated images make FID singular and the k-NN measures meaningless


def cache_dir() -> Path:
    return Path(os.environ.get("GANKIT_CACHE") or Path.home() / ".cache" / "gankit") / "reference"


@dataclass
class Reference:
    """Real images in feature space: their Gaussian statistics and up to KEEP of their features."""

    stats: GaussianStats
    kept: Tensor
    count: int
    data_sha256: str


def reference_features(network: FeatureNetwork, images: Tensor, name: str) -> Reference:
    """The real images' features, read from the cache when this exact data and network were seen."""
    data_hash = content_hash(images)
    preprocessing = hashlib.sha256(network.preprocessing.encode()).hexdigest()[:8]  # e.g. another resize
    key = f"{name}-{data_hash[:16]}-{network.weights_sha256[:16]}-{preprocessing}-{len(images)}"
    with contextlib.ExitStack() as held:
        try:  # one process extracts, the others then read
            held.enter_context(file_lock(cache_dir() / f"{key}.lock"))
        except OSError as exc:  # an unwritable cache: compute without it
            log.warning("could not use the reference cache %s: %s", cache_dir(), exc.strerror or exc)
            return _load_or_extract(network, images, data_hash, None)
        return _load_or_extract(network, images, data_hash, cache_dir() / f"{key}.safetensors")


def _load_or_extract(network: FeatureNetwork, images: Tensor, data_hash: str, path: Path | None) -> Reference:
    if path is not None and path.is_file():
        try:
            with safetensors.safe_open(str(path), framework="pt") as f:
                meta, tensors = json.loads(f.metadata()["gankit"]), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
            if meta["preprocessing"] == network.preprocessing:
                stats = GaussianStats(tensors["total"].numel(), meta["count"], tensors["total"], tensors["outer"])
                return Reference(stats, tensors["kept"], meta["count"], data_hash)
        except Exception:  # a damaged cache entry is recomputed, never trusted
            pass
    stats = GaussianStats(0)
    kept = []
    for chunk in images.split(5000):
        features = network.features(chunk)
        if stats.total is None:
            stats.dim = features.shape[1]
        stats.update(features)
        kept.append(features[: KEEP - sum(len(k) for k in kept)])
    reference = Reference(stats, torch.cat(kept).contiguous(), len(images), data_hash)
    meta = {"count": len(images), "preprocessing": network.preprocessing, "features": network.name}
    state = {"total": stats.total, "outer": stats.outer, "kept": reference.kept}
    if path is None:
        return reference
    try:
        atomic_write_bytes(path, safetensors.torch.save(state, metadata={"gankit": json.dumps(meta)}))
    except OSError as exc:
        log.warning("could not cache reference features in %s: %s", path.parent, exc.strerror or exc)
    return reference


class ImageMetrics:
    """Measures generated images against the real ones of a target, in one feature space."""

    def __init__(self, metrics: Sequence[str], network: FeatureNetwork, real: Tensor, name: str, n_real: int) -> None:
        self.metrics, self.network, self.name = list(metrics), network, name
        count = min(len(real), n_real or MAX_REAL)
        if count < len(real):  # a seeded random subset: a folder's images come sorted, class by class
            pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[:count]
            real = real[pick.sort().values]
        self.real = real
        self.described = "training images"  # what the reference set is, for the protocol
        self._reference: Reference | None = None

    @classmethod
    def from_config(
        cls, evaluation: Mapping[str, Any], target: Any, data_name: str, device: torch.device | str = "cpu"
    ) -> ImageMetrics | None:
        """The metrics `eval.metrics` asks for, checked now so that a bad setting fails before
        training; the feature network runs on `device`."""
        if not cls.check(evaluation, target, data_name):
            return None
        network = feature_network(evaluation["features"], target, device, evaluation["inception_resize"])
        # paired data: outputs are compared with the held-out targets they should match
        held_out = getattr(target, "held_out", None)
        real = held_out[1] if held_out is not None else target.dataset["x"]
        metrics = cls(evaluation["metrics"], network, real, data_name, evaluation["n_real"])
        metrics.described = "held-out targets" if held_out is not None else metrics.described
        return metrics

    @staticmethod
    def check(evaluation: Mapping[str, Any], target: Any, data_name: str) -> bool:
        """Whether metrics are asked for; a ConfigError for a setting they cannot work with.
        Cheap (no feature network is built), so every process can check before training."""
        if not evaluation["metrics"]:
            return False
        if getattr(target, "dataset", None) is None or getattr(target, "value_range", None) is None:
            raise ConfigError(f"eval.metrics ({', '.join(evaluation['metrics'])}) need image data; "
                              f"data.target {data_name} is not images")  # fmt: skip
        if "is" in evaluation["metrics"] and evaluation["features"] == "inception":
            raise ConfigError("eval.metrics = is needs class probabilities, which the FID Inception file does not "
                              "give; use eval.features = domain for IS, or drop is")  # fmt: skip
        check_fake_count(evaluation["n_samples"], "eval.n_samples")
        return True

    @property
    def reference(self) -> Reference:
        if self._reference is None:
            self._reference = reference_features(self.network, self.real, self.name)
        return self._reference

    def __call__(self, fake: Tensor) -> tuple[dict[str, float], dict[str, Any]]:
        """Values of the asked metrics for uint8 generated images, and their protocol."""
        check_fake_count(len(fake), "the number of generated images")
        reference = self.reference
        fake_features = self.network.features(fake)
        values: dict[str, float] = {}
        kept = fake_features[:KEEP]
        # the k-NN measures depend on the set sizes: compare equal numbers, as both papers do
        pick = torch.randperm(len(reference.kept), generator=torch.Generator().manual_seed(0))[: len(kept)]
        real_matched = reference.kept[pick.sort().values]
        kid_size = min(KID_SUBSET_SIZE, len(reference.kept), len(kept))
        if "fid" in self.metrics:
            values["fid"] = fid(reference.stats, GaussianStats.of(fake_features))
        if "kid" in self.metrics:
            values["kid"], values["kid_std"] = kid(reference.kept, kept, KID_SUBSETS, kid_size)
        if "is" in self.metrics:
            values["is"], values["is_std"] = inception_score(self.network.probabilities(fake), IS_SPLITS)
        if "pr" in self.metrics:
            values["precision"], values["recall"] = precision_recall(real_matched, kept, PR_K)
        if "dc" in self.metrics:
            values["density"], values["coverage"] = density_coverage(real_matched, kept, DC_K)
        protocol = {
            **self.network.protocol,
            "n_fake": len(fake),
            "n_real": reference.count,
            "reference": f"{self.name}: {reference.count} of the run's {self.described} (all, or a seed-0 random "
                         f"subset), sha256 {reference.data_sha256[:16]}…",
            "kid": {"subsets": KID_SUBSETS, "subset_size": kid_size, "kernel": "(x·y/d + 1)^3",
                    "drawn_from": {"real": len(reference.kept), "fake": len(kept)}},
            "pr_dc": {"real": len(real_matched), "fake": len(kept), "pr_k": PR_K, "dc_k": DC_K,
                      "real_subset": "seeded random (seed 0) of the first 10,000 reference features"},
            "is_splits": IS_SPLITS, "std": "over KID subsets / IS splits, n − 1",
        }  # fmt: skip
        return values, protocol


def check_fake_count(n: int, what: str) -> None:
    if n < MIN_FAKE:
        raise ConfigError(f"{what} is {n}; the image metrics need at least {MIN_FAKE} generated images "
                          "(FID and KID want thousands)")  # fmt: skip


def feature_network(
    name: str, target: Any, device: torch.device | str = "cpu", inception_resize: str = "tensorflow"
) -> FeatureNetwork:
    """`domain` (the target's own classifier) or `inception` (the FID Inception-v3, on `device`,
    behind the named resize)."""
    if name == "inception":
        return inception_features(device, inception_resize)
    classifier = getattr(target, "classifier", None)
    if classifier is None:
        raise ConfigError("eval.features = domain needs a dataset with a domain classifier (mnist, fashion-mnist "
                          "with data.classifier = true); use eval.features = inception")  # fmt: skip
    return domain_features(classifier())


def better(metric: str, value: float, best: float | None) -> bool:
    """Whether `value` of `metric` improves on `best`."""
    if value != value:  # NaN never improves
        return False
    if best is None or best != best:
        return True
    return value < best if metric in LOWER_IS_BETTER else value > best
