"""Measures of image translation between domains (CycleGAN, StarGAN).

A translation is judged per target domain on two questions:

- `target_share`: the share of translations that a classifier of the domains (`domain_judge`,
  a LeNet trained on the domains' own images) assigns to the wanted domain. For multi-label
  domains (CelebA attributes) a translation counts only when every attribute is as wanted, so
  changing one attribute while breaking another is not a success.
- `digits_kept`: on digit domains (plain, inverted, tinted MNIST), the share of translations
  read as the same digit as their input. A translator can reach the target domain by drawing
  any digit; this measures whether the content survived. `read_digits` brings an image of any
  style (tint, inverted background, size) to MNIST's style, then reads it with gankit's MNIST
  classifier, so one reader serves every digit domain and its errors are measured once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import DataError
from .classifier import INPUT, DomainClassifier, domain_classifier, to_unit

HELD_OUT = 0.2  # the share of each domain's images held back to test a judge given no test set
BORDER = 2  # pixels of each edge that show an image's background


def domain_judge(
    name: str, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor] | None, multi_label: bool
) -> DomainClassifier:
    """A classifier of the domains, trained on (uint8 N×C×H×W images, float N×K multi-hot labels).

    Single-label domains have one-hot labels (their ids are used). Without a `test` set, a seeded
    20% of each domain's images is held back to test on, or, for domains too small to spare one
    (under 5 images), the training images are: the protocol's `judge_test` says which. Cached by
    content like the other classifiers; the global RNG is left untouched.
    """
    images, labels = train
    labels = labels.float()
    if labels.dim() != 2 or len(labels) != len(images):
        raise ValueError(f"labels must be N×K multi-hot, one row per image; got {tuple(labels.shape)}")
    if test is None:
        kept, held = _hold_back(labels)
        if len(held):
            test, train, judge_test = (images[held], labels[held]), (images[kept], labels[kept]), "held-out"
        else:
            test, judge_test = (images, labels), "training images (too few to hold any back)"
        split = f"{judge_test}: {len(test[0])} of {len(images)} images"
    else:
        train, test = (images, labels), (test[0], test[1].float())
        split = f"given test set: {len(test[0])} images"
    if not multi_label:
        train, test = (train[0], train[1].argmax(1)), (test[0], test[1].argmax(1))
    judge = domain_classifier(name, train, test, labels.shape[1], multi_label=multi_label)
    judge.details = {"judge_test": split}
    return judge


def _hold_back(labels: Tensor, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Indices kept for training and held back for testing: a seeded HELD_OUT share of each
    distinct label vector (rounded down, so a domain of under 5 images holds none back)."""
    gen = torch.Generator().manual_seed(seed)
    _, group = torch.unique(labels, dim=0, return_inverse=True)
    kept, held = [], []
    for g in range(int(group.max()) + 1 if len(group) else 0):
        members = torch.nonzero(group == g).flatten()
        members = members[torch.randperm(len(members), generator=gen)]
        n = int(len(members) * HELD_OUT)
        held.append(members[:n])
        kept.append(members[n:])
    return torch.cat(kept).sort().values, torch.cat(held).sort().values


def target_share(probabilities: Tensor, wanted: Tensor, multi_label: bool) -> float:
    """Share of images judged to be in the wanted domain.

    Single-label: the argmax is the wanted domain (`wanted`: int ids, or one-hot N×K).
    Multi-label: every attribute thresholded at 0.5 equals the wanted 0/1 vector.
    """
    if multi_label:
        hit = ((probabilities > 0.5) == (wanted > 0.5)).all(1)
    else:
        ids = wanted.argmax(1) if wanted.dim() == 2 else wanted
        hit = probabilities.argmax(1) == ids.to(probabilities.device)
    return float(hit.double().mean())


def mnist_style(images: Tensor) -> Tensor:
    """uint8 digit images of any style → MNIST-style uint8 N×1×28×28: a bright digit on black.

    Grey is each image's first principal colour (what separates digit from background, whatever
    the two colours are); it is turned so the border, the background, is dark, then stretched
    from the background's level to the brightest pixel.
    """
    x = images.float()
    n, c, h, w = x.shape
    if c > 1:
        pixels = x.flatten(2).transpose(1, 2)  # N × HW × C
        centred = pixels - pixels.mean(1, keepdim=True)
        _, vectors = torch.linalg.eigh(centred.transpose(1, 2) @ centred)  # eigenvalues ascending
        grey = (centred @ vectors[:, :, -1:]).reshape(n, 1, h, w)
    else:
        grey = x
    border = torch.ones(h, w, dtype=torch.bool)
    border[BORDER:-BORDER, BORDER:-BORDER] = False
    background = grey[:, 0, border].median(1).values.view(n, 1, 1, 1)
    low, high = grey.flatten(1).min(1).values.view(n, 1, 1, 1), grey.flatten(1).max(1).values.view(n, 1, 1, 1)
    bright = background > (low + high) / 2
    grey = torch.where(bright, -grey, grey)
    background, top = torch.where(bright, -background, background), torch.where(bright, -low, high)
    grey = ((grey - background) / (top - background).clamp_min(1e-6)).clamp(0, 1) * 255
    if (h, w) != (INPUT, INPUT):
        grey = F.interpolate(grey, size=(INPUT, INPUT), mode="bilinear", antialias=True, align_corners=False)
    return grey.round().to(torch.uint8)


def read_digits(images: Tensor) -> Tensor:
    """The digit (int64 0-9) in each uint8 image of any style, read by gankit's MNIST classifier."""
    probabilities = mnist_reader().probabilities(to_unit(mnist_style(images)))
    return probabilities.argmax(1).cpu()


def digits_kept(inputs: Tensor, outputs: Tensor) -> float:
    """Share of translated outputs read as the same digit as their inputs (both uint8 images)."""
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
    return float((read_digits(inputs) == read_digits(outputs)).double().mean())


def mnist_reader() -> DomainClassifier:
    """The mnist target's own classifier (same data, recipe and cache entry), from $GANKIT_DATA/mnist."""
    from ..data.images import data_root  # the data package imports the metrics: import it late
    from ..data.published import IDX_FILES, _find, _idx_classifier

    root = data_root("mnist")
    wanted = IDX_FILES["train"] + IDX_FILES["test"]
    files = _find(root, wanted)
    if None in files:
        missing = ", ".join(f for f, p in zip(wanted, files) if p is None)
        where = f"{root} does not exist" if not root.is_dir() else f"{root} lacks {missing}"
        raise DataError(
            f"the digit reader needs MNIST's four IDX files: {where}; set GANKIT_DATA to a folder holding mnist/"
        )
    return _idx_classifier("mnist", tuple(p.resolve() for p in files), 10)
