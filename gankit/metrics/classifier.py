"""A small classifier trained on a labelled image dataset, for measures that need no download.

Papers measure MNIST-like GANs with a classifier of the domain; gankit trains a LeNet-like
one on the dataset's training split, checks it on the test split, and caches the weights
(safetensors) with their hash, the dataset's content hash and the test accuracy. Generated
images are then scored by what it recognises: how confidently, which classes, and (for
conditional models) whether it agrees with the class that was asked for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..atomic import atomic_write_bytes, file_lock

log = logging.getLogger("gankit")
RECIPE = "lenet-16-32-128/onecycle-3e-3/bs128/ep2/v1"
INPUT = 28


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
    """A trained classifier with the facts that make its numbers comparable."""

    model: LeNet
    channels: int
    num_classes: int
    test_accuracy: float
    data_hash: str
    weights_hash: str

    @torch.no_grad()
    def probabilities(self, images: Tensor, batch_size: int = 1024) -> Tensor:
        """Class probabilities of images in [-1, 1]."""
        self.model.eval()
        device = next(self.model.parameters()).device
        out = [F.softmax(self.model(prepare(chunk.to(device), self.channels)), 1) for chunk in images.split(batch_size)]
        return torch.cat(out)

    @property
    def protocol(self) -> dict[str, object]:
        return {
            "classifier": RECIPE,
            "test_accuracy": self.test_accuracy,
            "weights_sha256": self.weights_hash,
            "data_sha256": self.data_hash,
        }


def train_classifier(
    train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], num_classes: int, epochs: int = 2, seed: int = 0
) -> tuple[LeNet, float]:
    """Train a LeNet on uint8 images and int labels; return it and its test-set accuracy."""
    (x, y), (tx, ty) = train, test
    channels = x.shape[1]
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LeNet(channels, num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=epochs * (len(x) // 128))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x) - 127, 128):
            index = order[i : i + 128]
            loss = F.cross_entropy(model(prepare(to_unit(x[index]), channels)), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(prepare(to_unit(c), channels)).argmax(1) for c in tx.split(2048)])
    return model, float((predicted == ty).float().mean())


def cache_dir() -> Path:
    """Where trained classifiers are kept: $GANKIT_CACHE or ~/.cache/gankit."""
    return Path(os.environ.get("GANKIT_CACHE") or Path.home() / ".cache" / "gankit") / "classifiers"


def domain_classifier(
    name: str, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], num_classes: int
) -> DomainClassifier:
    """The cached classifier of this exact dataset (by content hash and recipe), trained if absent.

    The global RNG is left as it was, so an evaluation never changes what training draws next.
    """
    with torch.random.fork_rng(), file_lock(cache_dir() / f"{name}.lock"):  # one trainer at a time
        return _load_or_train(name, train, test, num_classes)


def _load_or_train(
    name: str, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], num_classes: int
) -> DomainClassifier:
    data_hash = content_hash(train[0], train[1], test[0], test[1])
    recipe_hash = hashlib.sha256(RECIPE.encode()).hexdigest()[:8]
    path = cache_dir() / f"{name}-{data_hash[:16]}-{recipe_hash}.safetensors"
    channels = train[0].shape[1]
    model = LeNet(channels, num_classes)
    if path.is_file():
        try:
            with safetensors.safe_open(str(path), framework="pt") as f:
                meta = json.loads(f.metadata()["gankit"])
            model.load_state_dict(safetensors.torch.load_file(str(path)))
            weights_hash = content_hash(*model.state_dict().values())
            if meta["data_sha256"] == data_hash and meta["weights_sha256"] == weights_hash:
                return DomainClassifier(model, channels, num_classes, meta["test_accuracy"], data_hash, weights_hash)
        except Exception:  # a damaged cache entry is retrained, never trusted
            pass
    model, accuracy = train_classifier(train, test, num_classes)
    weights_hash = content_hash(*model.state_dict().values())
    meta = {"recipe": RECIPE, "test_accuracy": accuracy, "data_sha256": data_hash, "weights_sha256": weights_hash}
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    try:
        atomic_write_bytes(path, safetensors.torch.save(state, metadata={"gankit": json.dumps(meta)}))
    except OSError as exc:  # an unwritable cache costs a retraining next time, not the run
        log.warning("could not cache the %s classifier in %s: %s", name, path.parent, exc.strerror or exc)
    return DomainClassifier(model, channels, num_classes, accuracy, data_hash, weights_hash)


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
