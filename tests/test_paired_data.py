"""Paired image data (pix2pix): side-by-side files and A/ B/ folders read into aligned pairs, the
facades target, the one-line errors for data that is not paired, and the device-side jitter."""

from __future__ import annotations

import inspect
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import gankit.data.paired  # noqa: F401  (registers the paired targets, whoever imports it first)
from gankit.data import TARGETS
from gankit.data.augment import Jitter
from gankit.data.images import _open_image, resize_images
from gankit.data.paired import (
    PairedImages,
    build_paired,
    find_pairs,
    read_aligned_folders,
    read_side_by_side,
)
from gankit.errors import ConfigError, DataError
from gankit.target_settings import FacadesSettings, PairedSettings

from .conftest import data_dir


def save(path: Path, pixels: np.ndarray) -> Path:
    """Write H×W (grey) or H×W×3 uint8 pixels as a lossless image, making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def noise(seed: int, h: int, w: int, colour: bool = True) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3) if colour else (h, w), dtype=np.uint8)


def chw(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)).copy())


def settings(**values) -> dict:
    return asdict(PairedSettings(**values))


def one_line_error(kind: type[Exception], call, *fragments: str) -> str:
    """Run `call`, expecting `kind` with a one-line message holding every fragment."""
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --------------------------------------------------------------------------- reading pairs


def test_side_by_side_files_split_into_their_halves(tmp_path):
    files = [save(tmp_path / "train" / f"{i}.png", noise(i, 8, 16)) for i in range(3)]
    a, b, read = read_side_by_side(tmp_path / "train", 0, 0)
    assert read == files and a.shape == b.shape == (3, 3, 8, 8) and a.dtype == torch.uint8
    for i in range(3):
        pixels = chw(noise(i, 8, 16))
        assert torch.equal(a[i], pixels[:, :, :8]) and torch.equal(b[i], pixels[:, :, 8:])
    # at a resolution each half is resized on its own, not the file as a whole
    a4, b4, _ = read_side_by_side(tmp_path / "train", 4, 2)
    assert torch.equal(a4, resize_images(a[:2], 4)) and torch.equal(b4, resize_images(b[:2], 4))
    # the target finds them under <path>/<split>/ and translates the left half into the right
    target = TARGETS.get("paired").item(settings(path=str(tmp_path)))
    assert find_pairs(tmp_path, "train").layout == "side-by-side"
    assert torch.equal(target.dataset["a"], a) and torch.equal(target.dataset["x"], b)
    assert target.held_out is None and target.jitter is None


def test_folder_pairs_match_by_name_not_by_order(tmp_path):
    # each B image is its A image + 1: a pair taken by position instead of by name would show it
    names = ["1", "2", "10", "sub/3"]
    for i, name in enumerate(names):
        save(tmp_path / "A" / f"{name}.png", np.full((6, 6), 20 * i, np.uint8))
        save(tmp_path / "B" / f"{name}{'.bmp' if name == '2' else '.png'}", np.full((6, 6), 20 * i + 1, np.uint8))
    a, b, files = read_aligned_folders(tmp_path / "A", tmp_path / "B", 0, 0)
    assert [f.relative_to(tmp_path / "A").as_posix() for f in files] == ["1.png", "10.png", "2.png", "sub/3.png"]
    assert a.shape == b.shape == (4, 1, 6, 6)
    assert torch.equal(b.int() - a.int(), torch.ones_like(a, dtype=torch.int32))
    assert find_pairs(tmp_path, "train").layout == "folders"  # <path>/A + <path>/B, no split folder


def test_direction_b_to_a_swaps_inputs_and_targets(tmp_path):
    for i in range(4):
        save(tmp_path / "train" / "A" / f"{i}.png", noise(i, 8, 8, colour=False))
        save(tmp_path / "train" / "B" / f"{i}.png", noise(100 + i, 8, 8))
    a, b, _ = read_aligned_folders(tmp_path / "train" / "A", tmp_path / "train" / "B", 0, 0)
    forward = build_paired(settings(path=str(tmp_path)))
    backward = build_paired(settings(path=str(tmp_path), direction="BtoA"))
    assert torch.equal(forward.dataset["a"], a) and torch.equal(forward.dataset["x"], b)
    assert torch.equal(backward.dataset["a"], b) and torch.equal(backward.dataset["x"], a)
    assert forward.input_shape == backward.shape == (1, 8, 8)
    assert forward.shape == backward.input_shape == (3, 8, 8)
    # data.channels applies to both sides; the reference set is targets, decoded
    grey = build_paired(settings(path=str(tmp_path), channels=1, range="zero-one"))
    assert grey.shape == grey.input_shape == (1, 8, 8)
    reference = grey.sample(50, torch.Generator().manual_seed(0))
    assert reference.shape == (50, 1, 8, 8) and reference.min() >= 0 and reference.max() <= 1
    assert torch.equal(grey.to_images(grey.decode(grey.dataset["x"])), grey.dataset["x"])
    assert grey.evaluate(reference, torch.Generator()) == {}


@pytest.fixture(scope="module")
def facades() -> PairedImages:
    data_dir("facades")
    return TARGETS.get("facades").item(asdict(FacadesSettings(resolution=64)))


def test_facades_loads_its_pairs_labels_to_photos(facades):
    root = data_dir("facades")
    assert TARGETS.get("facades").params is FacadesSettings and FacadesSettings().direction == "BtoA"
    assert len(facades) == 400 and facades.shape == facades.input_shape == (3, 64, 64)
    assert facades.keys == ("a", "x") and facades.num_classes == 0 and facades.value_range == "minus-one-one"
    held_a, held_x = facades.held_out
    assert held_a.shape == held_x.shape == (106, 3, 64, 64) and held_a.dtype == torch.uint8
    # BtoA: the input is the label map B/1.jpg, the target the photo A/1.jpg (the first by name)
    assert np.array_equal(facades.dataset["a"][0].permute(1, 2, 0).numpy(), _open_image(root / "train/B/1.jpg", 64))
    assert np.array_equal(facades.dataset["x"][0].permute(1, 2, 0).numpy(), _open_image(root / "train/A/1.jpg", 64))
    assert np.array_equal(held_x[0].permute(1, 2, 0).numpy(), _open_image(root / "test/A/1.jpg", 64))
    decoded = facades.decode(facades.dataset["x"][:8])
    assert decoded.dtype == torch.float32 and decoded.min() >= -1 and decoded.max() <= 1


def test_facades_honours_limit_and_direction():
    data_dir("facades")
    few = TARGETS.get("facades").item(asdict(FacadesSettings(resolution=32, limit=25, direction="AtoB")))
    assert len(few) == 25 and len(few.held_out[0]) == 25  # the held-out split is capped alike
    labels = TARGETS.get("facades").item(asdict(FacadesSettings(resolution=32, limit=25, split="test")))
    assert len(labels) == 25 and labels.held_out is None
    # the held-out pairs are the test split's first pairs: its label maps are AtoB targets, BtoA inputs
    assert torch.equal(few.held_out[1], labels.dataset["a"]) and torch.equal(few.held_out[0], labels.dataset["x"])
    one_line_error(ConfigError, lambda: TARGETS.get("facades").item(asdict(FacadesSettings(limit=500))), "500", "400")


# --------------------------------------------------------------------------- errors


def test_pair_images_of_different_sizes(tmp_path):
    save(tmp_path / "A" / "1.png", noise(0, 8, 8))
    save(tmp_path / "B" / "1.png", noise(1, 6, 8))
    one_line_error(
        DataError,
        lambda: build_paired(settings(path=str(tmp_path))),
        "pair 1:",
        str(tmp_path / "A" / "1.png"),
        "8×8",
        "6×8",
        "must have the same size",
        "data.resolution",
    )
    resized = build_paired(settings(path=str(tmp_path), resolution=4))
    assert resized.shape == resized.input_shape == (3, 4, 4)


def test_file_that_is_not_two_images_side_by_side(tmp_path):
    save(tmp_path / "0.png", noise(0, 8, 16))
    bad = save(tmp_path / "1.png", noise(1, 8, 10))
    one_line_error(
        DataError,
        lambda: build_paired(settings(path=str(tmp_path))),
        f"{bad} is 10×8, not two images side by side",
        "expected width = 2 × height",
        "data.layout=folders",
    )


def test_unpaired_and_one_domain_folders(tmp_path):
    for domain in ("trainA", "trainB"):
        save(tmp_path / "cyc" / domain / "1.png", noise(0, 8, 8))
    one_line_error(
        DataError,
        lambda: build_paired(settings(path=str(tmp_path / "cyc"))),
        str(tmp_path / "cyc"),
        "unpaired domains (trainA/, trainB/)",
        "A/ and B/ folders whose files match by name, or side-by-side images",
        "two-domain model",
    )
    save(tmp_path / "one" / "train" / "A" / "1.png", noise(0, 8, 8))
    one_line_error(DataError, lambda: find_pairs(tmp_path / "one", "train"), "only one domain (A/, no B/)")


def test_missing_empty_and_mismatched_folders(tmp_path):
    one_line_error(DataError, lambda: build_paired(settings(path=str(tmp_path / "nope"))), str(tmp_path / "nope"))
    one_line_error(ConfigError, lambda: build_paired(settings()), "data.path is required for the paired target")
    (tmp_path / "empty" / "val").mkdir(parents=True)
    one_line_error(
        DataError, lambda: find_pairs(tmp_path / "empty", "train"), "holds no train pairs", "A/ and B/", "val/"
    )
    for name in ("1", "2"):
        save(tmp_path / "odd" / "A" / f"{name}.png", noise(0, 8, 8))
    save(tmp_path / "odd" / "B" / "1.png", noise(0, 8, 8))
    one_line_error(DataError, lambda: find_pairs(tmp_path / "odd", "train").read(0, 0), "2.png has no partner")
    one_line_error(DataError, lambda: find_pairs(tmp_path / "empty", "train", "side-by-side"), "holds no images")
    one_line_error(DataError, lambda: find_pairs(tmp_path / "empty", "train", "folders"), "holds both an A/ and a B/")


def test_load_size_smaller_than_the_images(tmp_path):
    for i in range(2):
        save(tmp_path / "A" / f"{i}.png", noise(i, 8, 8))
        save(tmp_path / "B" / f"{i}.png", noise(i, 8, 8))
    one_line_error(
        ConfigError,
        lambda: build_paired(settings(path=str(tmp_path), resolution=8, load_size=6)),
        "data.load_size (6) must be >= the image size 8",
    )


# --------------------------------------------------------------------------- jitter


def test_jitter_keeps_pairs_aligned_and_is_reproducible():
    x = torch.rand(64, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(64)
    batch = {"a": x, "x": x.clone(), "y": labels}
    jitter = Jitter(20, 16, mirror=True)
    rng = torch.Generator().manual_seed(1)
    state = rng.get_state()
    first = jitter(batch, ("a", "x"), rng)
    assert first["a"].shape == (64, 3, 16, 16) and torch.equal(first["a"], first["x"])
    assert first["y"] is labels and batch["a"] is x  # unlisted keys pass through, the batch is not changed
    second = jitter(batch, ("a", "x"), rng)
    assert not torch.equal(first["a"], second["a"])
    rng.set_state(state)
    assert torch.equal(jitter(batch, ("a", "x"), rng)["a"], first["a"])
    again = jitter(batch, ("a", "x"), torch.Generator().manual_seed(1))
    assert torch.equal(again["x"], first["x"])


def test_jitter_flips_half_the_samples():
    n = 4000
    x = torch.arange(8.0).expand(n, 1, 8, 8).contiguous() + torch.arange(n)[:, None, None, None] * 8
    out = Jitter(8, 8, mirror=True)({"x": x}, ["x"], torch.Generator().manual_seed(2))["x"]
    kept = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert bool((kept ^ flipped).all())  # each sample whole, mirrored or not
    assert 0.45 < flipped.double().mean() < 0.55
    assert torch.equal(Jitter(8, 8, mirror=False)({"x": x}, ["x"], torch.Generator())["x"], x)


def bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """Hand-written bilinear resize of C×H×W to C×size×size (half-pixel centres, edges clamped)."""

    def taps(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        source = np.maximum((np.arange(size) + 0.5) * n_in / size - 0.5, 0)
        low = np.minimum(np.floor(source).astype(int), n_in - 1)
        return low, np.minimum(low + 1, n_in - 1), source - low

    (r0, r1, fr), (c0, c1, fc) = taps(image.shape[1]), taps(image.shape[2])
    rows = image[:, r0] * (1 - fr)[None, :, None] + image[:, r1] * fr[None, :, None]
    return rows[:, :, c0] * (1 - fc) + rows[:, :, c1] * fc


def test_jitter_crops_are_windows_of_the_resized_images():
    x = torch.rand(32, 2, 7, 9, generator=torch.Generator().manual_seed(3))
    out = Jitter(11, 8, mirror=True)({"x": x}, ["x"], torch.Generator().manual_seed(4))["x"]
    resized = F.interpolate(x, size=(11, 11), mode="bilinear", align_corners=False)
    tops, flips = set(), set()
    for i in range(32):
        windows = [
            (top, left, flip)
            for top in range(4)
            for left in range(4)
            for flip in (False, True)
            if torch.equal(out[i], (lambda w: w.flip(-1) if flip else w)(resized[i, :, top : top + 8, left : left + 8]))
        ]
        assert len(windows) == 1, f"sample {i} is not one window of its resized image: {windows}"
        tops.add(windows[0][0])
        flips.add(windows[0][2])
    assert tops == {0, 1, 2, 3} and flips == {False, True}
    # one sample against a resize computed by hand
    top, left, flip = windows[0]
    hand = bilinear(x[31].double().numpy(), 11)[:, top : top + 8, left : left + 8]
    hand = hand[:, :, ::-1] if flip else hand
    assert np.allclose(out[31].double().numpy(), hand, atol=1e-6)


def test_jitter_settings_and_identity():
    with pytest.raises(ValueError, match="load_size"):
        Jitter(8, 16, mirror=False)
    assert Jitter(16, 16, mirror=False).is_identity and not Jitter(16, 16, mirror=True).is_identity
    assert not Jitter(18, 16, mirror=False).is_identity
    images = torch.randint(0, 256, (5, 3, 6, 6), dtype=torch.uint8)
    out = Jitter(6, 6, mirror=True)({"x": images}, ["x"], torch.Generator().manual_seed(0))["x"]
    assert out.dtype == torch.uint8 and all(
        torch.equal(o, i) or torch.equal(o, i.flip(-1)) for o, i in zip(out, images)
    )
    # the draws stay on the device: nothing reads a tensor back to the host
    source = inspect.getsource(Jitter)
    assert not any(sync in source for sync in (".item()", ".tolist()", ".cpu()", ".numpy()"))


def test_target_augments_inputs_and_targets_alike(tmp_path):
    for i in range(6):
        pixels = noise(i, 8, 8)
        save(tmp_path / "train" / "A" / f"{i}.png", pixels)
        save(tmp_path / "train" / "B" / f"{i}.png", pixels)
    save(tmp_path / "test" / "A" / "0.png", noise(9, 8, 8))
    save(tmp_path / "test" / "B" / "0.png", noise(9, 8, 8))
    plain = build_paired(settings(path=str(tmp_path)))
    batch = {key: plain.decode(value) for key, value in plain.dataset.items()}
    assert plain.augment(batch, torch.Generator()) is batch
    assert len(plain.held_out[0]) == 1
    target = build_paired(settings(path=str(tmp_path), load_size=10))
    assert target.jitter is not None and (target.jitter.load_size, target.jitter.crop_size) == (10, 8)
    out = target.augment(batch, torch.Generator().manual_seed(0))
    assert out["a"].shape == out["x"].shape == (6, 3, 8, 8)
    assert torch.equal(out["a"], out["x"]) and not torch.equal(out["x"], batch["x"])
