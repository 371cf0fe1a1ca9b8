"""The data targets a config can name: each one's settings dataclass and help line, and where its
builder lives (imported only when a target is built).

Kept free of torch and NumPy so that resolving and validating a config starts instantly; the
targets themselves are in `gankit/data/<kind>.py`. A new target is a builder there plus one
`TARGETS.declare` line (and its settings) here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .registries import TARGETS
from .settings import list_setting, setting

RANGES = ("minus-one-one", "zero-one")  # what an image target's pixels decode to
LAYOUTS = ("auto", "side-by-side", "folders")  # of paired images
DIRECTIONS = ("AtoB", "BtoA")
SPLITS = ("train", "test")  # of paired and domain images
TABLE = "list_attr_celeba.txt"  # the attribute table's file name
MEMORY = "memory"  # the target of data given in Python
KINDS = ("tensor", "dataset", "dataloader")  # what such data was


@dataclass
class ToySettings:
    size: int = setting(0, "0: fresh samples for every batch; N: a fixed set of N samples walked in epochs", min=0)


@dataclass
class Gaussian1DSettings(ToySettings):
    mean: float = setting(4.0, "mean of the target normal")
    std: float = setting(1.5, "standard deviation of the target normal", min=1e-6)
    length: int = setting(1000, "draws per sample; a sample is their sorted vector", min=2)


@dataclass
class Gaussian2DSettings(ToySettings):
    size: int = setting(1000, "0: fresh samples for every batch; N: a fixed set of N samples walked in epochs", min=0)
    A: list[list[float]] = list_setting([[1.0, 2.0], [-0.1, 0.5]], "mixing matrix: x = z·A + b, z ~ N(0, I)")
    b: list[float] = list_setting([1.0, 2.0], "offset b: the target mean")


@dataclass
class RingSettings(ToySettings):
    modes: int = setting(8, "Gaussians evenly spaced on the circle", min=1)
    radius: float = setting(2.0, "circle radius", min=1e-6)
    std: float = setting(0.02, "standard deviation of each Gaussian", min=1e-6)


@dataclass
class GridSettings(ToySettings):
    side: int = setting(5, "k: a k×k lattice of Gaussians", min=1)
    spacing: float = setting(2.0, "distance between neighbouring centres", min=1e-6)
    std: float = setting(0.05, "standard deviation of each Gaussian", min=1e-6)


@dataclass
class MoonsSettings(ToySettings):
    noise: float = setting(0.05, "standard deviation of the Gaussian noise added to each point", min=0.0)


@dataclass
class SpiralSettings(ToySettings):
    turns: float = setting(2.0, "turns of the spiral", min=0.1)
    radius: float = setting(2.0, "outer radius", min=1e-6)
    noise: float = setting(0.05, "standard deviation of the Gaussian noise added to each point", min=0.0)


@dataclass
class ImageSettings:
    """Settings every image target has: how pixels are sized, coloured and scaled, and how many are read."""

    resolution: int = setting(0, "0: native size; R: resize to R×R (shorter side, then centre crop)", min=0, max=4096)
    channels: int = setting(0, "0: native; 1: grey (luminance); 3: RGB (grey repeated)", choices=[0, 1, 3])
    range: str = setting("minus-one-one", "what pixels decode to: [-1, 1] or [0, 1]", choices=list(RANGES))
    limit: int = setting(0, "0: every image; N: the first N images (quick runs, tests)", min=0)


@dataclass
class FolderSettings(ImageSettings):
    """Settings of the folder target: the folder, and whether sub-folders are classes."""

    path: str = setting("", "folder of images, searched recursively (required)")
    classes: bool = setting(False, "label each image by its first-level sub-folder (sorted names → ids)")


@dataclass
class NpzSettings(ImageSettings):
    """Settings of the npz target: the file, and how many classes its labels have."""

    path: str = setting("", "a .npz file: images under x (or images), labels under y (or labels) (required)")
    num_classes: int = setting(0, "classes of the labels (0: the largest label + 1)", min=0)


@dataclass
class NamedImageSettings(ImageSettings):
    """Settings of the published datasets (mnist, fashion-mnist, cifar10): where they are, which split."""

    root: str = setting(
        "", "folder of the dataset files; empty: $GANKIT_DATA/<name> or ~/.cache/gankit/datasets/<name>"
    )
    split: str = setting(
        "train", "which images: train, test or all (train then test)", choices=["train", "test", "all"]
    )
    download: bool = setting(False, "fetch the official files (checksummed) into root when they are missing")


@dataclass
class IdxSettings(NamedImageSettings):
    """Settings of the MNIST-format datasets: the published ones, plus their domain classifier."""

    classifier: bool = setting(
        True, "score generated images with a LeNet trained (once, then cached) on this dataset's train split"
    )


@dataclass
class PairedSettings(ImageSettings):
    """Settings of a paired target: where the pairs are, how they are laid out, which way they translate."""

    path: str = setting("", "folder of pairs: A/ and B/ (under <split>/ or not), or side-by-side images (required)")
    layout: str = setting(
        "auto", "auto; side-by-side: each file is A (left) beside B (right); folders: A/ and B/", choices=list(LAYOUTS)
    )
    direction: str = setting("AtoB", "AtoB: translate A into B; BtoA: translate B into A", choices=list(DIRECTIONS))
    split: str = setting("train", "which pairs to train on; train also holds out test/ when there is one",
                         choices=list(SPLITS))  # fmt: skip
    load_size: int = setting(
        0, "0: no jitter; L: resize to L×L, then random-crop back to data.resolution (pix2pix: 286 → 256)", min=0
    )
    mirror: bool = setting(True, "with the jitter (load_size > 0): flip half the pairs horizontally at random")


@dataclass
class FacadesSettings(PairedSettings):
    """Settings of the CMP facades: the shared copy by default, label maps (B) → photos (A)."""

    path: str = setting("", "folder holding train/{A,B} and test/{A,B}; empty: $GANKIT_DATA/facades")
    direction: str = setting("BtoA", "BtoA: label maps → photos; AtoB: photos → label maps", choices=list(DIRECTIONS))


@dataclass
class DomainSettings(ImageSettings):
    """Settings of the domains target: where the domain folders are, which to use, the jitter."""

    path: str = setting("", "folder with a sub-folder of images per domain, under train/ or not (required)")
    domains: list[str] = list_setting(
        [], 'the domain folders, in order ("cat,dog,wild"); empty: every sub-folder, sorted', comma=True
    )
    split: str = setting("train", "which split to train on; train holds out test/ or val/ (testA/ testB/) when "
                         "there is one", choices=list(SPLITS))  # fmt: skip
    limit: int = setting(0, "0: every image; N: at most the first N images of each domain", min=0)
    load_size: int = setting(
        0, "0: no jitter; L: resize to L×L, then random-crop back to data.resolution (CycleGAN: 286 → 256)", min=0
    )
    mirror: bool = setting(
        True,
        "flip half the images horizontally at random (with the resize-and-crop jitter, "
        "or alone when data.load_size is 0)",
    )


@dataclass
class UnpairedSettings(DomainSettings):
    """Settings of the unpaired target: as `domains`, with exactly two domains A and B."""

    path: str = setting("", "folder with trainA/ and trainB/ (testA/ testB/ held out), or a folder per domain "
                        "(required)")  # fmt: skip
    domains: list[str] = list_setting(
        [], 'the two domain folders, A then B ("cat,dog"); empty: trainA/ trainB/, or the only two sub-folders',
        comma=True,
    )  # fmt: skip


@dataclass
class AttributeSettings(ImageSettings):
    """Settings of the attributes target: the images, their table, the attributes to learn, the jitter."""

    path: str = setting("", "folder of the images the table names (CelebA: img_align_celeba/) (required)")
    table: str = setting("", f"the attribute table; empty: {TABLE} in data.path or its parent folder")
    attributes: list[str] = list_setting(
        [], 'the attributes to learn, in order ("Black_Hair,Blond_Hair,Brown_Hair,Male,Young") (required)',
        comma=True,
    )  # fmt: skip
    held_out: int = setting(0, "the table's last N images are kept out of training, for evaluation", min=0)
    limit: int = setting(0, "0: every image; N: the first N training images of the table (and at most N held out)",
                         min=0)  # fmt: skip
    load_size: int = setting(0, "0: no jitter; L: resize to L×L, then random-crop back to data.resolution", min=0)
    mirror: bool = setting(
        True,
        "flip half the images horizontally at random (with the resize-and-crop jitter, "
        "or alone when data.load_size is 0)",
    )


@dataclass
class MemorySettings:
    kind: str = setting("tensor", "what was given to gankit.train(data=…) (informative)", choices=KINDS)
    shape: list[int] = list_setting([], "shape of one sample (informative)", min=1)
    samples: int = setting(0, "samples in the data (0: unknown, a DataLoader's) (informative)", min=0)
    value_range: str = setting("", "images: what their pixels are, [-1, 1] or [0, 1] (informative)",
                               choices=("", *RANGES))  # fmt: skip


TARGETS.declare(
    "gaussian-1d",
    "seed 000: sorted vectors of draws from N(4, 1.5)",
    Gaussian1DSettings,
    item="gankit.data.toy:gaussian_1d",
)
TARGETS.declare(
    "gaussian-2d",
    "seed 004: x = N(0, I)·A + b, a correlated 2-D Gaussian",
    Gaussian2DSettings,
    item="gankit.data.toy:gaussian_2d",
)
TARGETS.declare(
    "ring",
    "k Gaussians evenly spaced on a circle (VEEGAN: 8, radius 2, std 0.02)",
    RingSettings,
    item="gankit.data.toy:ring",
)
TARGETS.declare(
    "grid",
    "k×k Gaussians on a square lattice (PacGAN: 5×5, spacing 2, std 0.05)",
    GridSettings,
    item="gankit.data.toy:grid",
)
TARGETS.declare("moons", "two interleaving half circles", MoonsSettings, item="gankit.data.toy:moons")
TARGETS.declare("spiral", "an Archimedean spiral with noise", SpiralSettings, item="gankit.data.toy:spiral")
TARGETS.declare(
    "folder",
    "any folder of images (recursive), optionally classed by sub-folder",
    FolderSettings,
    item="gankit.data.images:image_folder",
)
TARGETS.declare("npz", "images (and labels) from a NumPy .npz file", NpzSettings, item="gankit.data.images:npz")
TARGETS.declare(
    "mnist",
    "MNIST handwritten digits: 60,000 + 10,000 grey 28×28 images, 10 classes",
    IdxSettings,
    item="gankit.data.published:mnist",
)
TARGETS.declare(
    "fashion-mnist",
    "Fashion-MNIST clothes: 60,000 + 10,000 grey 28×28 images, 10 classes",
    IdxSettings,
    item="gankit.data.published:fashion_mnist",
)
TARGETS.declare(
    "cifar10",
    "CIFAR-10: 50,000 + 10,000 colour 32×32 images, 10 classes",
    NamedImageSettings,
    item="gankit.data.published:cifar10",
)
TARGETS.declare(
    "paired",
    "aligned image pairs (pix2pix): A/ and B/ folders matched by name, or side-by-side files",
    PairedSettings,
    item="gankit.data.paired:paired",
)
TARGETS.declare(
    "facades",
    "CMP facades: 400 + 106 label-map/photo pairs, 256×256 (pix2pix), labels → photos",
    FacadesSettings,
    item="gankit.data.paired:facades",
)
TARGETS.declare(
    "unpaired",
    "two unaligned image domains (CycleGAN): trainA/ and trainB/, or two domain folders",
    UnpairedSettings,
    item="gankit.data.domains:unpaired",
)
TARGETS.declare(
    "domains",
    "images labelled by domain (StarGAN): a sub-folder of images per domain, e.g. AFHQ",
    DomainSettings,
    item="gankit.data.domains:domains",
)
TARGETS.declare(
    "attributes",
    "images with binary attributes (StarGAN on CelebA): list_attr_celeba.txt",
    AttributeSettings,
    item="gankit.data.attributes:attributes",
)
TARGETS.declare(
    MEMORY,
    "data given in Python to gankit.train(data=…): a tensor, Dataset or DataLoader",
    MemorySettings,
    item="gankit.data.memory:memory",
)
