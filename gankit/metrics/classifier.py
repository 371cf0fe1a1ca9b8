"""A small classifier trained on a labelled image dataset, for measures that need no download.

Papers measure MNIST-like GANs with a classifier of the domain; gankit trains a LeNet-like
one on the dataset's training split, checks it on the test split, and caches the weights
(safetensors) with their hash, the dataset's content hash and the test accuracy. Generated
images are then scored by what it recognises: how confidently, which classes, and (for
conditional models) whether it agrees with the class that was asked for.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..atomic import atomic_write_bytes, file_lock

log = logging.getLogger("gankit")
# the cache key of a trained classifier: change it with anything that changes training (cached
# classifiers, and the test suite's in tests/fixtures/classifiers, are then trained afresh)
RECIPE = "lenet-16-32-128/onecycle-3e-3/bs128/ep2/v1"
MULTI_LABEL_RECIPE = RECIPE + "/multi-label-bce"  # the cache key of multi-label classifiers
INPUT = 28
MIN_STEPS = 64  # small datasets get more epochs, so that a classifier of 15 images still learns


class LeNet(nn.Module):
    """Two 5×5 conv + max-pool stages and two linear layers, on 28×28 inputs."""

    def __init__(self, channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(128, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """The 128-d penultimate features (what a domain FID would compare)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def prepare(images: Tensor, channels: int) -> Tensor:
    """Images in [-1, 1] (any size, grey or RGB) → the classifier's 28×28 input."""
    images = images.float()
    if images.shape[1] != channels:
        images = images.mean(1, keepdim=True) if channels == 1 else images.expand(-1, channels, -1, -1)
    if images.shape[-1] != INPUT or images.shape[-2] != INPUT:
        images = F.interpolate(images, size=(INPUT, INPUT), mode="bilinear", antialias=True, align_corners=False)
    return images


def to_unit(images_uint8: Tensor) -> Tensor:
    return images_uint8.float() / 127.5 - 1


def content_hash(*tensors: Tensor) -> str:
    """SHA-256 of the tensors' bytes: the identity of a dataset or a set of weights."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass
class DomainClassifier:
    """A trained classifier with the facts that make its numbers comparable.

    Multi-label classifiers (`multi_label`) judge K independent attributes: their
    `num_classes` is K, `probabilities` are per-attribute sigmoids, and `test_accuracy` is
    the share of test images with every attribute right.
    """

    model: LeNet
    channels: int
    num_classes: int
    test_accuracy: float
    data_hash: str
    weights_hash: str
    multi_label: bool = False
    details: dict[str, object] = field(default_factory=dict)  # added to the protocol (e.g. its test split)

    @torch.no_grad()
    def probabilities(self, images: Tensor, batch_size: int = 1024) -> Tensor:
        """Class probabilities (softmax; per-attribute sigmoids when multi-label) of images in [-1, 1]."""
        self.model.eval()
        device = next(self.model.parameters()).device
        squash = torch.sigmoid if self.multi_label else functools.partial(F.softmax, dim=1)
        out = [squash(self.model(prepare(chunk.to(device), self.channels))) for chunk in images.split(batch_size)]
        return torch.cat(out)

    @property
    def protocol(self) -> dict[str, object]:
        return {
            "classifier": MULTI_LABEL_RECIPE if self.multi_label else RECIPE,
            "test_accuracy": self.test_accuracy,
            "weights_sha256": self.weights_hash,
            "data_sha256": self.data_hash,
            **self.details,
        }


def train_classifier(
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    num_classes: int,
    epochs: int = 2,
    seed: int = 0,
    multi_label: bool = False,
) -> tuple[LeNet, float]:
    """Train a LeNet on uint8 images and labels; return it and its test-set accuracy.

    Labels are int class ids, or (`multi_label`) float N×K 0/1 attribute vectors learnt with
    binary cross-entropy, whose accuracy is the share of images with every attribute right.
    Batches are min(128, N) images; datasets too small for MIN_STEPS steps in `epochs` epochs
    get more epochs (large ones, MNIST's included, train exactly as before). Those new cases
    flush denormal floats to zero while training: easy tasks (a handful of colours, plain
    against inverted) drive gradients into denormals, which make CPU steps ~7× slower.
    """
    (x, y), (tx, ty) = train, test
    channels = x.shape[1]
    batch = min(128, len(x))
    per_epoch = len(x) // batch
    longer = max(epochs, math.ceil(MIN_STEPS / per_epoch))
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LeNet(channels, num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=longer * per_epoch)
    loss_of = F.binary_cross_entropy_with_logits if multi_label else F.cross_entropy
    model.train()
    with _flush_denormals(multi_label or longer > epochs):
        for _ in range(longer):
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x) - batch + 1, batch):
                index = order[i : i + batch]
                loss = loss_of(model(prepare(to_unit(x[index]), channels)), y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(prepare(to_unit(c), channels)) for c in tx.split(2048)])
    right = ((logits > 0) == (ty > 0.5)).all(1) if multi_label else logits.argmax(1) == ty
    return model, float(right.float().mean())


@contextlib.contextmanager
def _flush_denormals(enabled: bool) -> Iterator[None]:
    """Flush denormal floats to zero on the CPU inside the block (torch's default, off, after)."""
    if not enabled:
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def cache_dir() -> Path:
    """Where trained classifiers are kept: $GANKIT_CACHE or ~/.cache/gankit."""
    return Path(os.environ.get("GANKIT_CACHE") or Path.home() / ".cache" / "gankit") / "classifiers"


def domain_classifier(
    name: str,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    num_classes: int,
    multi_label: bool = False,
) -> DomainClassifier:
    """The cached classifier of this exact dataset (by content hash and recipe), trained if absent.

    `multi_label`: labels are float N×K 0/1 attribute vectors and `num_classes` is K (see
    `train_classifier`). The global RNG is left as it was, so an evaluation never changes what
    training draws next.
    """
    with torch.random.fork_rng(), file_lock(cache_dir() / f"{name}.lock"):  # one trainer at a time
        return _load_or_train(name, train, test, num_classes, multi_label)


def recipe_key(recipe: str) -> str:
    """The part of a cached classifier's file name that names its recipe."""
    return hashlib.sha256(recipe.encode()).hexdigest()[:8]


def _load_or_train(
    name: str, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], num_classes: int, multi_label: bool
) -> DomainClassifier:
    if multi_label:
        train, test = (train[0], train[1].float()), (test[0], test[1].float())
    data_hash = content_hash(train[0], train[1], test[0], test[1])
    recipe = MULTI_LABEL_RECIPE if multi_label else RECIPE
    path = cache_dir() / f"{name}-{data_hash[:16]}-{recipe_key(recipe)}.safetensors"
    channels = train[0].shape[1]
    model = LeNet(channels, num_classes)
    if path.is_file():
        try:
            with safetensors.safe_open(str(path), framework="pt") as f:
                meta = json.loads(f.metadata()["gankit"])
            model.load_state_dict(safetensors.torch.load_file(str(path)))
            weights_hash = content_hash(*model.state_dict().values())
            if meta["data_sha256"] == data_hash and meta["weights_sha256"] == weights_hash:
                accuracy = meta["test_accuracy"]
                return DomainClassifier(model, channels, num_classes, accuracy, data_hash, weights_hash, multi_label)
        except Exception:  # a damaged cache entry is retrained, never trusted
            pass
    model, accuracy = train_classifier(train, test, num_classes, multi_label=multi_label)
    weights_hash = content_hash(*model.state_dict().values())
    meta = {"recipe": recipe, "test_accuracy": accuracy, "data_sha256": data_hash, "weights_sha256": weights_hash}
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    try:
        atomic_write_bytes(path, safetensors.torch.save(state, metadata={"gankit": json.dumps(meta)}))
    except OSError as exc:  # an unwritable cache costs a retraining next time, not the run
        log.warning("could not cache the %s classifier in %s: %s", name, path.parent, exc.strerror or exc)
    return DomainClassifier(model, channels, num_classes, accuracy, data_hash, weights_hash, multi_label)


def class_measures(
    probabilities: Tensor, data_frequencies: Tensor, requested: Tensor | None = None
) -> dict[str, float]:
    """What the classifier sees in generated images.

    - `confidence`: mean top-class probability (real test digits score ≈ 0.99, noise ≈ 0.3);
    - `classes_covered`: classes predicted for at least a tenth of their share in the data;
    - `class_kl`: KL divergence of the predicted class histogram from the data's;
    - `label_agreement` (conditional models): share predicted as the class that was asked for.
    """
    probabilities = probabilities.double().cpu()
    k = probabilities.shape[1]
    predicted = probabilities.argmax(1)
    histogram = torch.bincount(predicted, minlength=k).double() / len(predicted)
    data = data_frequencies.double().cpu()
    nonzero = histogram > 0
    measures = {
        "confidence": float(probabilities.max(1).values.mean()),
        "classes_covered": int(((histogram >= 0.1 * data) & (data > 0)).sum()),
        "class_kl": float((histogram[nonzero] * (histogram[nonzero] / data[nonzero]).log()).sum()),
    }
    if requested is not None:
        measures["label_agreement"] = float((predicted == requested.cpu()).double().mean())
    return measures
