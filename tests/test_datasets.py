"""Image targets: facts of the real MNIST, Fashion-MNIST and CIFAR-10 files, conversions, folders,
.npz files, every data error as one line, and checksummed downloads from file:// mirrors."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import resolve
from gankit.data import build_source, build_target
from gankit.data import download as dl
from gankit.data.images import IMAGE_EXTENSIONS, ImageDataset, convert_channels, make_grid, resize_images
from gankit.errors import ConfigError, DataError

from .conftest import DATA, data_dir

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # mnist/README.md


def build(target: str, **settings) -> ImageDataset:
    """A target through the config system, as `gankit train --set data.<key>=...` builds it."""
    config = resolve(overrides={"data.target": target, **{f"data.{k}": v for k, v in settings.items()}})
    return build_target(config["data"])


def error_of(kind: type[Exception], target: str, **settings) -> str:
    """The one-line message of the error that building `target` raises."""
    with pytest.raises(kind) as info:
        build(target, **settings)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, compress: bool = False) -> Path:
    """Write an IDX file (magic 2051 for N×H×W images, 2049 for N labels unless given)."""
    magic = magic or (2051 if array.ndim == 3 else 2049)
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_cifar_bin(path: Path, labels: list[int]) -> np.ndarray:
    """A CIFAR-10 binary batch: per record a label byte then 3072 channel-major pixel bytes."""
    pixels = np.random.default_rng(len(labels)).integers(0, 256, (len(labels), 3, 32, 32), dtype=np.uint8)
    records = np.concatenate([np.array(labels, dtype=np.uint8)[:, None], pixels.reshape(len(labels), -1)], 1)
    path.write_bytes(records.tobytes())
    return pixels


def write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def mnist_train() -> ImageDataset:
    return build("mnist", root=str(data_dir("mnist")))


@pytest.fixture(scope="module")
def mnist_test() -> ImageDataset:
    return build("mnist", root=str(data_dir("mnist")), split="test")


@pytest.fixture(scope="module")
def cifar_subset() -> dict[str, ImageDataset]:
    root = str(data_dir("cifar10-subset"))
    return {split: build("cifar10", root=root, split=split) for split in ("train", "test")}


def test_mnist_train_is_the_official_set(mnist_train):
    data = mnist_train.dataset
    assert mnist_train.shape == (1, 28, 28) and len(mnist_train) == 60_000
    assert data["x"].dtype == torch.uint8 and data["x"].shape == (60_000, 1, 28, 28) and data["x"].is_contiguous()
    assert data["y"].dtype == torch.int64 and data["y"].shape == (60_000,)
    assert data["y"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert torch.bincount(data["y"]).tolist() == MNIST_TRAIN_COUNTS
    assert mnist_train.num_classes == 10 and mnist_train.class_names == [str(d) for d in range(10)]
    assert mnist_train.picture == "samples"
    assert int(data["x"].min()) == 0 and int(data["x"].max()) == 255


def test_mnist_test_split_and_all(mnist_train, mnist_test):
    assert len(mnist_test) == 10_000
    assert mnist_test.dataset["y"][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    both = build("mnist", root=str(data_dir("mnist")), split="all", limit=60_005)
    assert len(both) == 60_005  # train first, then test
    assert torch.equal(both.dataset["x"][60_000:], mnist_test.dataset["x"][:5])
    assert torch.equal(both.dataset["x"][:100], mnist_train.dataset["x"][:100])


def test_fashion_mnist_labels_and_class_names():
    fashion = build("fashion-mnist", root=str(data_dir("fashion-mnist")))
    labels = fashion.dataset["y"]
    assert fashion.shape == (1, 28, 28) and len(fashion) == 60_000
    assert labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert torch.bincount(labels).tolist() == [6000] * 10
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"


def test_cifar10_png_subset(cifar_subset):
    train, test = cifar_subset["train"], cifar_subset["test"]
    assert (len(train), len(test)) == (4000, 1000)
    assert train.shape == (3, 32, 32) and train.dataset["x"].shape == (4000, 3, 32, 32)
    assert train.dataset["y"][:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert test.dataset["y"][:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert train.class_names[6] == "frog" and train.class_names[9] == "truck"
    # pixels exactly as the README says to read them: row r of the strip is image r (H×W×C)
    strip = np.array(Image.open(DATA / "cifar10-subset" / "cifar10_batch_0.png")).reshape(1000, 32, 32, 3)
    assert torch.equal(train.dataset["x"][7], torch.from_numpy(strip[7]).permute(2, 0, 1))


def test_default_root_is_gankit_data(monkeypatch, mnist_train, cifar_subset):
    monkeypatch.setenv("GANKIT_DATA", str(DATA))
    data_dir("mnist")
    config = resolve("ring", overrides=["data.target=mnist", "data.limit=100"])
    target = build_target(config["data"])
    assert len(target) == 100 and torch.equal(target.dataset["x"], mnist_train.dataset["x"][:100])
    cifar = build("cifar10", limit=10)  # no cifar10/ folder there: the subset is used
    assert torch.equal(cifar.dataset["x"], cifar_subset["train"].dataset["x"][:10])


def test_without_gankit_data_the_cache_folder_is_searched(monkeypatch, tmp_path):
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    message = error_of(DataError, "mnist")
    assert str(tmp_path / ".cache" / "gankit" / "datasets" / "mnist") in message


def test_a_fixed_source_walks_the_images_decoded(mnist_train):
    source = build_source(mnist_train, {"batch_size": 32}, seed=0, device=torch.device("cpu"))
    batch = source.next()
    assert batch["x"].dtype == torch.float32 and batch["x"].shape == (32, 1, 28, 28)
    assert batch["y"].dtype == torch.int64 and float(batch["x"].min()) >= -1 and float(batch["x"].max()) <= 1


# --------------------------------------------------------------------------- conversions


def test_resize_keeps_the_ink_mass(mnist_train):
    originals = mnist_train.dataset["x"][:1000]
    mean = originals.double().mean()
    resized = build("mnist", root=str(data_dir("mnist")), limit=1000, resolution=32)
    assert resized.shape == (1, 32, 32) and resized.dataset["x"].dtype == torch.uint8
    for images in (resized.dataset["x"], resize_images(originals, 64)):
        assert abs(float(images.double().mean() / mean) - 1) < 0.03
    assert resize_images(originals, 64).shape == (1000, 1, 64, 64)
    # non-square: the shorter side is resized, then the centre cropped
    wide = torch.zeros(1, 1, 10, 30, dtype=torch.uint8)
    wide[..., 10:20] = 200
    assert torch.equal(resize_images(wide, 10), torch.full((1, 1, 10, 10), 200, dtype=torch.uint8))
    assert resize_images(wide, 5).shape == (1, 1, 5, 5)


def test_channels_one_to_three_and_three_to_one(mnist_train, cifar_subset):
    rgb = build("mnist", root=str(data_dir("mnist")), limit=50, channels=3)
    assert rgb.shape == (3, 28, 28)
    for c in range(3):
        assert torch.equal(rgb.dataset["x"][:, c], mnist_train.dataset["x"][:50, 0])
    grey = build("cifar10", root=str(data_dir("cifar10-subset")), limit=50, channels=1)
    assert grey.shape == (1, 32, 32)
    colour = cifar_subset["train"].dataset["x"][:50]
    pillow = [np.asarray(Image.fromarray(img.permute(1, 2, 0).numpy()).convert("L")) for img in colour]
    assert torch.equal(grey.dataset["x"][:, 0], torch.from_numpy(np.stack(pillow)))  # Pillow's luma exactly
    assert torch.equal(convert_channels(colour, 3), colour)


def test_range_mapping_is_exact_and_round_trips(mnist_train):
    stored = torch.tensor([[[[0, 255, 128]]]], dtype=torch.uint8)
    assert mnist_train.decode(stored).flatten().tolist() == [-1.0, 1.0, pytest.approx(128 / 127.5 - 1, abs=1e-7)]
    assert mnist_train.decode(stored).dtype == torch.float32
    zero_one = build("mnist", root=str(data_dir("mnist")), split="test", limit=64, range="zero-one")
    assert zero_one.decode(stored).flatten().tolist() == [0.0, 1.0, pytest.approx(128 / 255, abs=1e-7)]
    for target in (mnist_train, zero_one):
        images = target.dataset["x"][:64]
        assert torch.equal(target.to_images(target.decode(images)), images)
    out_of_range = torch.tensor([-3.0, 2.0, float("nan")]).reshape(1, 1, 1, 3).expand(1, 1, 28, 3)
    clamped = mnist_train.to_images(torch.nn.functional.pad(out_of_range, (0, 25)))
    assert clamped[0, 0, 0, :3].tolist() == [0, 255, 128]  # NaN reads as 0.0, the middle


def test_sample_draws_from_the_generator(mnist_train):
    a = mnist_train.sample(16, torch.Generator().manual_seed(0))
    b = mnist_train.sample(16, torch.Generator().manual_seed(0))
    c = mnist_train.sample(16, torch.Generator().manual_seed(1))
    assert a.shape == (16, 1, 28, 28) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= -1 and float(a.max()) <= 1


def test_raw_idx_files_read_like_gzipped_ones(tmp_path, mnist_test):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(data_dir("mnist") / f"{name}.gz", "rb") as f:
            (tmp_path / name).write_bytes(f.read())
    raw = build("mnist", root=str(tmp_path), split="test", classifier=False)
    assert torch.equal(raw.dataset["x"], mnist_test.dataset["x"])
    assert torch.equal(raw.dataset["y"], mnist_test.dataset["y"])


def test_make_grid_and_draw(mnist_train, cifar_subset):
    images = torch.arange(5 * 16, dtype=torch.uint8).reshape(5, 1, 4, 4)
    grid = make_grid(images, nrow=2)
    assert grid.shape == (3 * 6 + 2, 2 * 6 + 2, 3) and grid.dtype == np.uint8
    assert (grid[8:12, 2:6] == images[2, 0].numpy()[..., None]).all()  # third image: row 1, column 0
    assert (grid[14:18, 8:12] == 255).all() and (grid[:2] == 255).all()  # missing sixth image, padding
    colour = cifar_subset["train"].dataset["x"][:3]
    assert (make_grid(colour, nrow=3, padding=0, pad_value=0)[:, 32:64] == colour[1].permute(1, 2, 0).numpy()).all()

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    real = mnist_train.sample(40, torch.Generator().manual_seed(0))
    fake = torch.rand(40, 28 * 28) * 2 - 1  # flat generator output is reshaped
    mnist_train.draw(ax, real, fake, torch.randn(40, 2))
    picture = ax.images[0].get_array()
    assert picture.shape == (8 * 30 + 2, 2 * (4 * 30 + 2) + 28, 3)  # 32 of each: 8 rows × 4, a gap between
    assert [t.get_text() for t in ax.get_xticklabels()] == ["real", "generated"]
    plt.close(fig)


# --------------------------------------------------------------------------- folders and .npz files


def test_folder_with_classes_from_sub_folders(tmp_path):
    red = np.zeros((8, 8, 3), dtype=np.uint8)
    red[..., 0] = 255
    write_png(tmp_path / "cats" / "a.png", red)
    write_png(tmp_path / "cats" / "deep" / "b.PNG", red // 2)
    write_png(tmp_path / "dogs" / "c.png", np.full((8, 8, 3), 9, dtype=np.uint8))
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    (tmp_path / "dogs" / "._c.png").write_bytes(b"macOS metadata, not a PNG")  # hidden: skipped
    write_png(tmp_path / ".thumbnails" / "t.png", red)
    target = build("folder", path=str(tmp_path), classes=True)
    assert target.class_names == ["cats", "dogs"] and target.num_classes == 2
    assert target.dataset["y"].tolist() == [0, 0, 1] and target.shape == (3, 8, 8)
    assert torch.equal(target.dataset["x"][0], torch.from_numpy(red).permute(2, 0, 1))
    unlabelled = build("folder", path=str(tmp_path))
    assert "y" not in unlabelled.dataset and unlabelled.num_classes == 0 and unlabelled.class_names == []
    grey = build("folder", path=str(tmp_path), channels=1, resolution=4, limit=2)
    assert grey.dataset["x"].shape == (2, 1, 4, 4)
    assert int(grey.dataset["x"][0].min()) == int(grey.dataset["x"][0].max()) == 76  # Pillow's luma of pure red


def test_folder_grey_images_resized_and_centre_cropped(tmp_path):
    wide = np.zeros((8, 16), dtype=np.uint8)
    wide[:, 4:12] = 200  # the centred 8×8 square
    write_png(tmp_path / "wide.png", wide)
    write_png(tmp_path / "small.png", np.full((4, 4), 50, dtype=np.uint8))
    message = error_of(DataError, "folder", path=str(tmp_path))
    assert f"differ in size ({tmp_path / 'small.png'} is 4×4, {tmp_path / 'wide.png'} is 8×16)" in message
    target = build("folder", path=str(tmp_path), resolution=8)
    assert target.shape == (1, 8, 8)  # every image grey: one channel
    assert (target.dataset["x"][0] == 50).all()  # small.png, enlarged
    assert (target.dataset["x"][1] == 200).all()  # wide.png: its centred square, the dark sides cropped away


def test_npz_with_and_without_labels(tmp_path):
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, (6, 5, 5, 3), dtype=np.uint8)
    np.savez(tmp_path / "labelled.npz", x=nhwc, y=np.array([0, 1, 2, 1, 0, 2]))
    target = build("npz", path=str(tmp_path / "labelled.npz"))
    assert target.shape == (3, 5, 5) and target.num_classes == 3 and target.dataset["y"].tolist() == [0, 1, 2, 1, 0, 2]
    assert torch.equal(target.dataset["x"], torch.from_numpy(nhwc).permute(0, 3, 1, 2))
    assert build("npz", path=str(tmp_path / "labelled.npz"), num_classes=5).class_names == list("01234")
    nchw = nhwc.transpose(0, 3, 1, 2)
    np.savez(tmp_path / "nchw.npz", images=nchw, labels=np.arange(6))
    assert torch.equal(build("npz", path=str(tmp_path / "nchw.npz")).dataset["x"], torch.from_numpy(nchw))
    floats = rng.random((4, 6, 6)).astype(np.float32)
    np.savez(tmp_path / "floats.npz", x=floats)
    plain = build("npz", path=str(tmp_path / "floats.npz"))
    assert "y" not in plain.dataset and plain.num_classes == 0 and plain.shape == (1, 6, 6)
    assert torch.equal(plain.dataset["x"][:, 0], torch.from_numpy(np.round(floats * 255).astype(np.uint8)))


# --------------------------------------------------------------------------- errors, one line each


def test_missing_folder_and_files_name_what_is_expected(tmp_path):
    message = error_of(DataError, "mnist", root=str(tmp_path / "nowhere"))
    assert str(tmp_path / "nowhere") in message and "train-images-idx3-ubyte" in message
    assert "GANKIT_DATA" in message and "--set data.download=true" in message
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28)))
    message = error_of(DataError, "fashion-mnist", root=str(tmp_path))
    assert "lacks train-labels-idx1-ubyte[.gz]" in message and "train-images" not in message.split("(")[0]
    message = error_of(DataError, "cifar10", root=str(tmp_path))
    assert "data_batch_1-5.bin" in message and "labels.csv" in message and "--set data.download=true" in message


def test_damaged_idx_files(tmp_path):
    labels = write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2, 3]))
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(b"this is not gzip")
    assert f"{images} is not a readable gzip" in error_of(
        DataError, "mnist", root=str(tmp_path), split="test", classifier=False
    )
    images.write_bytes(gzip.compress(b"\0" * 100)[:-12])  # cut short inside the stream
    assert str(images) in error_of(DataError, "mnist", root=str(tmp_path), split="test", classifier=False)
    write_idx(images, np.zeros((3, 2, 2)), magic=2049, compress=True)
    message = error_of(DataError, "mnist", root=str(tmp_path), split="test", classifier=False)
    assert f"{images} is not an IDX images file: magic number 2049, expected 2051" in message
    write_idx(images, np.zeros((3, 2, 2)), compress=True)
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-1]))
    assert f"{images} is truncated: 27 bytes, its header (3×2×2) promises 28" in error_of(
        DataError, "mnist", root=str(tmp_path), split="test", classifier=False
    )
    write_idx(images, np.zeros((2, 2, 2)), compress=True)
    message = error_of(DataError, "mnist", root=str(tmp_path), split="test", classifier=False)
    assert f"{images} holds 2 images but {labels} holds 3 labels" in message
    write_idx(images, np.zeros((3, 2, 2)), compress=True)
    write_idx(labels, np.array([1, 10, 3]))
    assert f"{labels} holds label 10, outside the classes 0-9" in error_of(
        DataError, "mnist", root=str(tmp_path), split="test", classifier=False
    )
    write_idx(labels, np.array([1, 9, 3]))
    assert build("mnist", root=str(tmp_path), split="test", classifier=False).shape == (1, 2, 2)


def test_limit_larger_than_the_split(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 2, 2)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([1, 2, 3]))
    message = error_of(ConfigError, "mnist", root=str(tmp_path), split="test", classifier=False, limit=4)
    assert (
        message.startswith("data.limit (4) must be <= the 3 images of the mnist test split")
        and str(tmp_path) in message
    )


def test_folder_errors(tmp_path):
    (tmp_path / "readme.txt").write_text("no pictures here")
    message = error_of(DataError, "folder", path=str(tmp_path))
    assert str(tmp_path) in message and all(ext in message for ext in IMAGE_EXTENSIONS)
    broken = tmp_path / "broken.JPG"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    assert f"{broken} could not be decoded as an image" in error_of(DataError, "folder", path=str(tmp_path))
    broken.unlink()
    write_png(tmp_path / "loose.png", np.zeros((4, 4), dtype=np.uint8))
    assert "loose.png lies directly in" in error_of(DataError, "folder", path=str(tmp_path), classes=True)
    assert error_of(ConfigError, "folder").startswith("data.path is required")
    assert str(tmp_path / "absent") in error_of(DataError, "folder", path=str(tmp_path / "absent"))


def test_npz_errors(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, pixels=np.zeros((2, 4, 4), dtype=np.uint8), targets=np.zeros(2))
    assert f"{path} has no image array: expected key x or images, found pixels, targets" in error_of(
        DataError, "npz", path=str(path)
    )
    images = np.zeros((3, 4, 4), dtype=np.uint8)
    np.savez(path, x=images, y=np.array([0, 1, 3]))
    message = error_of(DataError, "npz", path=str(path), num_classes=3)
    assert f"{path}: y holds label 3, outside the classes 0-2" in message
    np.savez(path, x=images, y=np.array([0, -1, 1]))
    assert "holds label -1" in error_of(DataError, "npz", path=str(path))
    np.savez(path, x=np.array([object(), None], dtype=object))
    assert "unpickling" in error_of(DataError, "npz", path=str(path))
    np.savez(path, x=images * 1.5 + 2)
    assert "outside [0, 1]" in error_of(DataError, "npz", path=str(path))
    np.savez(path, x=np.zeros((2, 5, 4, 4), dtype=np.uint8))
    assert "expected N×H×W, N×H×W×C or N×C×H×W" in error_of(DataError, "npz", path=str(path))
    np.savez(path, x=images)
    assert "has no labels" in error_of(DataError, "npz", path=str(path), num_classes=2)
    path.write_bytes(b"not a zip file")
    assert f"{path} is not a .npz file" in error_of(DataError, "npz", path=str(path))
    assert "data.path is required" in error_of(ConfigError, "npz")


def test_settings_are_validated_by_the_config(tmp_path):
    assert error_of(ConfigError, "mnist", channels=2) == "data.channels must be one of 0, 1, 3; got 2"
    assert "data.split must be one of train, test, all" in error_of(ConfigError, "cifar10", split="valid")
    assert "data.range must be one of minus-one-one, zero-one" in error_of(ConfigError, "mnist", range="0-255")
    assert "data.resolution must be >= 0" in error_of(ConfigError, "mnist", resolution=-8)
    assert "unknown key 'data.download'" in error_of(ConfigError, "folder", path=str(tmp_path), download=True)


# --------------------------------------------------------------------------- CIFAR-10 binary and python versions


def test_cifar10_binary_version(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    train = [write_cifar_bin(folder / f"data_batch_{i}.bin", [i, 9, 0]) for i in range(1, 6)]
    test = write_cifar_bin(folder / "test_batch.bin", [3, 1])
    target = build("cifar10", root=str(tmp_path), split="all")
    assert target.shape == (3, 32, 32) and len(target) == 17
    assert target.dataset["y"].tolist() == [1, 9, 0, 2, 9, 0, 3, 9, 0, 4, 9, 0, 5, 9, 0, 3, 1]
    assert torch.equal(target.dataset["x"], torch.from_numpy(np.concatenate([*train, test])))
    (folder / "test_batch.bin").write_bytes(bytes([10]) + bytes(3072))
    message = error_of(DataError, "cifar10", root=str(tmp_path), split="test")
    assert f"{folder / 'test_batch.bin'} holds label 10, outside the classes 0-9" == message
    (folder / "test_batch.bin").write_bytes(bytes(3072))
    assert "is truncated: 3072 bytes" in error_of(DataError, "cifar10", root=str(tmp_path), split="test")
    (folder / "data_batch_3.bin").unlink()
    assert "lacks data_batch_3.bin" in error_of(DataError, "cifar10", root=str(tmp_path))
    flat = tmp_path / "flat"  # the batches may also lie in root itself
    flat.mkdir()
    pixels = write_cifar_bin(flat / "test_batch.bin", [4, 2, 0])
    target = build("cifar10", root=str(flat), split="test", limit=2)
    assert target.dataset["y"].tolist() == [4, 2] and torch.equal(target.dataset["x"], torch.from_numpy(pixels[:2]))


def test_cifar10_png_strips_written_here(tmp_path):
    strip = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    write_png(tmp_path / "s.png", strip.reshape(2, 1024, 3))
    header = "file,row,split,index_in_split,label,class_name\n"
    table = tmp_path / "labels.csv"
    table.write_text(header + "s.png,1,train,0,5,dog\ns.png,0,train,1,2,bird\ns.png,0,test,0,1,automobile\n")
    target = build("cifar10", root=str(tmp_path))
    assert target.dataset["y"].tolist() == [5, 2]  # ordered by index_in_split, not by row
    assert torch.equal(target.dataset["x"], torch.from_numpy(strip[[1, 0]]).permute(0, 3, 1, 2))
    table.write_text(header + "s.png,2,train,0,5,dog\n")
    assert f"{table} names row 2 of s.png, which has 2 rows" in error_of(DataError, "cifar10", root=str(tmp_path))
    table.write_text(header + "s.png,0,train,zero,5,dog\n")
    assert f"{table} is not a valid label table" in error_of(DataError, "cifar10", root=str(tmp_path))
    table.write_text(header + "s.png,0,train,0,11,dog\n")
    assert "holds label 11 for s.png row 0, outside the classes 0-9" in error_of(
        DataError, "cifar10", root=str(tmp_path)
    )
    write_png(tmp_path / "s.png", strip.reshape(64, 32, 3))
    assert "must be a 1024-pixel-wide RGB PNG" in error_of(DataError, "cifar10", root=str(tmp_path))


def write_cifar_pickle(path, labels: list[int], protocol: int) -> np.ndarray:
    """A python-version batch as CIFAR-10's own (a dict of labels and an N×3072 uint8 array)."""
    import pickle

    pixels = np.random.default_rng(len(labels)).integers(0, 256, (len(labels), 3072), dtype=np.uint8)
    batch = {"batch_label": "testing batch", "labels": labels, "data": pixels, "filenames": ["a.png"] * len(labels)}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    return pixels.reshape(-1, 3, 32, 32)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_python_batches_are_read_without_unpickling(tmp_path, protocol):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    train = [write_cifar_pickle(folder / f"data_batch_{i}", [i, 9, 0], protocol) for i in range(1, 6)]
    test = write_cifar_pickle(folder / "test_batch", [3, 1], protocol)
    target = build("cifar10", root=str(tmp_path), split="all")
    assert target.dataset["y"].tolist() == [1, 9, 0, 2, 9, 0, 3, 9, 0, 4, 9, 0, 5, 9, 0, 3, 1]
    assert torch.equal(target.dataset["x"], torch.from_numpy(np.concatenate([*train, test])))


def test_a_cifar10_python_batch_that_would_run_code_is_only_read(tmp_path):
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({"labels": [1], "data": Payload()}, protocol=2))
    message = error_of(DataError, "cifar10", root=str(tmp_path), split="test")
    assert "is not a CIFAR-10 python batch: 1 labels and a" in message
    assert not (tmp_path / "pwned").exists()
    (folder / "test_batch").write_bytes(pickle.dumps({"labels": [1]}, protocol=2)[:-5])
    assert "is not a CIFAR-10 python batch (truncated or not a pickle" in error_of(
        DataError, "cifar10", root=str(tmp_path), split="test"
    )
    write_cifar_pickle(folder / "test_batch", [12], 4)
    assert "holds label 12, outside the classes 0-9" in error_of(DataError, "cifar10", root=str(tmp_path), split="test")
    assert "lacks data_batch_1" in error_of(DataError, "cifar10", root=str(tmp_path))


# --------------------------------------------------------------------------- downloads


def test_fetch_verifies_the_checksum(tmp_path):
    mirror, dest = tmp_path / "mirror", tmp_path / "data"
    mirror.mkdir()
    (mirror / "file.bin").write_bytes(b"some bytes")
    url = (mirror / "file.bin").as_uri()
    assert dl.fetch(url, dest / "file.bin", md5(b"some bytes")) == dest / "file.bin"
    assert (dest / "file.bin").read_bytes() == b"some bytes" and dl.verify(dest / "file.bin", md5(b"some bytes"))
    assert sorted(p.name for p in dest.iterdir()) == ["file.bin"]  # no temporary left

    wrong = "0" * 32
    with pytest.raises(DataError) as info:
        dl.fetch(url, dest / "other.bin", wrong)
    message = str(info.value)
    assert "\n" not in message and str(dest / "other.bin") in message
    assert wrong in message and md5(b"some bytes") in message
    assert sorted(p.name for p in dest.iterdir()) == ["file.bin"]  # nothing kept, not even a temporary

    with pytest.raises(DataError) as info:
        dl.fetch((mirror / "absent.bin").as_uri(), dest / "absent.bin", wrong)
    assert "could not download" in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in dest.iterdir()) == ["file.bin"]


def test_a_verified_file_is_not_fetched_again(tmp_path, monkeypatch):
    (tmp_path / "file.bin").write_bytes(b"kept")

    def no_network(*args, **kwargs):
        raise AssertionError("fetched again")

    monkeypatch.setattr(dl.urllib.request, "urlopen", no_network)
    assert dl.fetch("https://example.invalid/file.bin", tmp_path / "file.bin", md5(b"kept")) == tmp_path / "file.bin"
    assert not dl.verify(tmp_path / "file.bin", md5(b"other"))
    with pytest.raises(AssertionError):  # a file whose checksum does not match is replaced
        dl.fetch("https://example.invalid/file.bin", tmp_path / "file.bin", md5(b"other"))


def test_mnist_download_from_a_mirror(tmp_path, monkeypatch, mnist_test):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in dl.SOURCES["mnist"].files:
        (mirror / name).symlink_to(data_dir("mnist") / name)
    monkeypatch.setitem(dl.SOURCES, "mnist", dl.Source(mirror.as_uri() + "/", dl.SOURCES["mnist"].files))
    root = tmp_path / "mnist"
    target = build("mnist", root=str(root), split="test", limit=10, download=True)
    assert torch.equal(target.dataset["x"], mnist_test.dataset["x"][:10])
    assert sorted(p.name for p in root.iterdir()) == sorted(dl.SOURCES["mnist"].files)
    assert all(dl.verify(root / name, digest) for name, digest in dl.SOURCES["mnist"].files.items())


def test_cifar10_download_extracts_the_binary_version(tmp_path, monkeypatch):
    staging = tmp_path / "staging" / "cifar-10-batches-bin"
    staging.mkdir(parents=True)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        write_cifar_bin(staging / name, [7, 7])
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / "cifar-10-binary.tar.gz", "w:gz") as tar:
        tar.add(staging, arcname="cifar-10-batches-bin")
    digest = md5((mirror / "cifar-10-binary.tar.gz").read_bytes())
    source = dl.Source(mirror.as_uri() + "/", {"cifar-10-binary.tar.gz": digest}, archive=True)
    monkeypatch.setitem(dl.SOURCES, "cifar10", source)
    root = tmp_path / "data"
    target = build("cifar10", root=str(root), download=True)
    assert len(target) == 10 and target.dataset["y"].tolist() == [7] * 10
    assert (root / "cifar-10-batches-bin" / "test_batch.bin").is_file()
    assert not any(p.name.startswith(".tmp-") for p in root.iterdir())


def add_member(
    tar: tarfile.TarFile, name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, link: str = ""
) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname = (len(data) if kind == tarfile.REGTYPE else 0), kind, link
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize(
    "member",
    [("../evil.txt",), ("/tmp/evil.txt",), ("folder/../../evil.txt",), ("link", b"", tarfile.SYMTYPE, "/etc/passwd")],
)
def test_unsafe_archives_are_not_extracted(tmp_path, member):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        add_member(tar, "good.txt")
        add_member(tar, *member)
    dest = tmp_path / "out"
    with pytest.raises(DataError) as info:
        dl.extract_tar(archive, dest)
    assert str(archive) in str(info.value) and "not extracted" in str(info.value)
    assert list(dest.iterdir()) == [] and not (tmp_path / "evil.txt").exists()
    shutil.rmtree(dest)


def test_the_domain_classifier_needs_both_splits_and_says_so_before_training(tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copyfile(data_dir("mnist") / f"{name}.gz", tmp_path / f"{name}.gz")
    message = error_of(DataError, "mnist", root=str(tmp_path), split="test")
    assert "the domain classifier needs both splits" in message and "train-images-idx3-ubyte" in message
    assert "data.classifier=false" in message
