"""Domain image data (CycleGAN, StarGAN): two unaligned domains walked apart, folders of labelled
domains, CelebA's attribute table, their held-out splits, and one-line errors for what does not fit."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.checks import check_table
from gankit.data import TARGETS, TargetInfo, build_source
from gankit.data.attributes import AttributeImages, AttributeSettings, read_table
from gankit.data.domains import DomainImages, DomainSettings, UnpairedImages, UnpairedSettings
from gankit.data.images import _open_image
from gankit.errors import ConfigError, DataError

from .conftest import data_dir

CPU = torch.device("cpu")


def save(path: Path, pixels: np.ndarray) -> Path:
    """Write H×W (grey) or H×W×3 uint8 pixels as a lossless image, making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def noise(seed: int, h: int = 8, w: int = 8, colour: bool = True) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3) if colour else (h, w), dtype=np.uint8)


def chw(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy((pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)).copy())


def stack(seeds, **kw) -> torch.Tensor:
    return torch.stack([chw(noise(seed, **kw)) for seed in seeds])


def build(target: str, **values):
    kind = {"unpaired": UnpairedSettings, "domains": DomainSettings, "attributes": AttributeSettings}[target]
    return TARGETS.get(target).item(asdict(kind(**values)))


def one_line_error(kind: type[Exception], call, *fragments: str) -> str:
    """Run `call`, expecting `kind` with a one-line message holding every fragment."""
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def domain_tree(root: Path, sizes: dict[str, int], seed: int = 0, **kw) -> dict[str, list[int]]:
    """A folder of noise PNGs per domain; the seeds of each domain's images, in file order."""
    seeds = {}
    for d, (name, n) in enumerate(sizes.items()):
        seeds[name] = [seed + 100 * d + i for i in range(n)]
        for i, s in enumerate(seeds[name]):
            save(root / name / f"{i:02d}.png", noise(s, **kw))
    return seeds


# --------------------------------------------------------------------------- unpaired


def test_unpaired_cyclegan_layout_reads_each_domain_and_its_test_split(tmp_path):
    seeds = domain_tree(tmp_path, {"trainA": 3, "trainB": 2, "testA": 1, "testB": 2})
    target = build("unpaired", path=str(tmp_path))
    assert isinstance(target, UnpairedImages) and target.keys == ("a", "x")
    assert target.class_names == ("A", "B") and target.num_classes == 0 and not target.multi_label
    assert target.shape == target.input_shape == (3, 8, 8) and target.picture == "samples"
    groups = target.groups
    assert list(groups) == ["A", "B"] and list(groups["A"]) == ["a"] and list(groups["B"]) == ["x"]
    assert torch.equal(groups["A"]["a"], stack(seeds["trainA"])) and torch.equal(
        groups["B"]["x"], stack(seeds["trainB"])
    )
    assert torch.equal(target.dataset["x"], stack(seeds["trainA"] + seeds["trainB"]))
    assert target.dataset["y"].tolist() == [0, 0, 0, 1, 1] and target.dataset["y"].dtype == torch.int64
    # evaluation reads the test split; the training images on request
    assert target.has_held_out
    assert torch.equal(target.domain_images(0), stack(seeds["testA"]))
    assert torch.equal(target.domain_images(1), stack(seeds["testB"]))
    assert torch.equal(target.domain_images(1, held_out=False), stack(seeds["trainB"]))
    images, labels = target.labelled_images()
    assert torch.equal(images, stack(seeds["testA"] + seeds["testB"]))
    assert labels.dtype == torch.float32 and labels.tolist() == [[1, 0], [0, 1], [0, 1]]
    assert target.labelled_images(held_out=False)[1].sum(0).tolist() == [3, 2]
    with pytest.raises(IndexError, match="domain 2 is out of range"):
        target.domain_images(2)
    # data.split=test trains on testA/ testB/, with nothing held out
    test = build("unpaired", path=str(tmp_path), split="test")
    assert torch.equal(test.groups["B"]["x"], stack(seeds["testB"])) and not test.has_held_out
    # what a checkpoint records of it, and reads back
    info = TargetInfo.of(target)
    assert info.keys == ("a", "x") and info.class_names == ("A", "B") and info.input_shape == (3, 8, 8)
    assert TargetInfo.from_dict(info.to_dict()) == info


def test_unpaired_folder_per_domain_picks_two_in_order(tmp_path):
    seeds = domain_tree(tmp_path / "train", {"cat": 2, "dog": 3, "wild": 2}, colour=False)
    held = domain_tree(tmp_path / "val", {"cat": 1, "dog": 1, "wild": 1}, seed=50, colour=False)
    target = build("unpaired", path=str(tmp_path), domains=["wild", "cat"])
    assert target.class_names == ("wild", "cat") and target.shape == (1, 8, 8)
    assert torch.equal(target.groups["A"]["a"], stack(seeds["wild"], colour=False))
    assert torch.equal(target.groups["B"]["x"], stack(seeds["cat"], colour=False))
    assert torch.equal(target.domain_images(0), stack(held["wild"], colour=False))  # val/ is the held-out split
    # a comma-separated string as the command line writes it; the config check turns it into a list
    assert build("unpaired", path=str(tmp_path), domains=" dog, cat").class_names == ("dog", "cat")
    checked = check_table({"path": str(tmp_path), "domains": "dog,cat"}, UnpairedSettings, "data")
    assert checked["domains"] == ["dog", "cat"]
    # directly under data.path (no train/): nothing held out; two sub-folders need no data.domains
    direct = build("unpaired", path=str(tmp_path / "val"), domains="cat,dog", channels=3)
    assert direct.shape == (3, 8, 8) and not direct.has_held_out
    domain_tree(tmp_path / "two", {"x": 1, "y": 1})
    assert build("unpaired", path=str(tmp_path / "two")).class_names == ("x", "y")


def test_grouped_source_walks_domains_of_different_sizes_apart(tmp_path):
    # every image a flat grey level: A's are 0..7, B's 100..104, so a batch names its image
    for i in range(8):
        save(tmp_path / "trainA" / f"{i}.png", np.full((4, 4), i, np.uint8))
    for i in range(5):
        save(tmp_path / "trainB" / f"{i}.png", np.full((4, 4), 100 + i, np.uint8))
    target = build("unpaired", path=str(tmp_path), range="zero-one")
    source = build_source(target, {"batch_size": 1}, 3, CPU)
    a_ids, b_ids = [], []
    for _ in range(40):
        batch = source.next()
        assert set(batch) == {"a", "x"} and batch["a"].dtype == torch.float32
        a_ids.append(round(batch["a"].flatten()[0].item() * 255))
        b_ids.append(round(batch["x"].flatten()[0].item() * 255))
    a_epochs = [a_ids[i : i + 8] for i in range(0, 40, 8)]
    b_epochs = [b_ids[i : i + 5] for i in range(0, 40, 5)]
    assert all(sorted(e) == list(range(8)) for e in a_epochs)  # every image once per its own epoch
    assert all(sorted(e) == list(range(100, 105)) for e in b_epochs)
    assert len({tuple(e) for e in a_epochs}) > 1 and len({tuple(e) for e in b_epochs}) > 1  # reshuffled
    assert [i % 100 for i in b_epochs[0]] != a_epochs[0][:5]  # each domain its own shuffle
    assert source.epochs == 5.0  # the first group's passes


def test_state_dict_round_trip_continues_with_the_same_jittered_batches(tmp_path):
    domain_tree(tmp_path, {"trainA": 5, "trainB": 3})
    target = build("unpaired", path=str(tmp_path), load_size=11)
    assert (target.jitter.load_size, target.jitter.crop_size, target.jitter.mirror) == (11, 8, True)
    source = build_source(target, {"batch_size": 2}, 7, CPU)
    for _ in range(3):
        source.next()
    state = source.state_dict()
    # each domain is jittered from its own generator, saved with its position
    assert set(state) == {"A", "B"} and not torch.equal(state["A"]["augment_rng"], state["B"]["augment_rng"])
    expected = [source.next() for _ in range(4)]
    plain = target.decode(target.images)
    assert not any(torch.equal(expected[0]["a"][0], image) for image in plain)  # resized and cropped
    again = build_source(target, {"batch_size": 2}, 7, CPU)
    again.load_state_dict(state)
    for batch in expected:
        got = again.next()
        assert torch.equal(got["a"], batch["a"]) and torch.equal(got["x"], batch["x"])


# --------------------------------------------------------------------------- labelled domains


def test_domains_target_labels_each_image_by_its_folder(tmp_path):
    seeds = domain_tree(tmp_path, {"dog": 2, "cat": 3, "wild": 1})
    target = build("domains", path=str(tmp_path))
    assert isinstance(target, DomainImages) and target.keys == ("x", "y") and target.num_classes == 3
    assert target.class_names == ("cat", "dog", "wild")  # sorted by default
    assert torch.equal(target.dataset["x"], stack(seeds["cat"] + seeds["dog"] + seeds["wild"]))
    assert target.dataset["y"].tolist() == [0, 0, 0, 1, 1, 2] and not target.has_held_out
    assert torch.equal(target.domain_images(1), stack(seeds["dog"]))  # no held-out split: the training images
    images, labels = target.labelled_images()
    assert torch.equal(labels, F.one_hot(target.dataset["y"], 3).float())
    # data.domains selects and orders; data.limit caps each domain
    few = build("domains", path=str(tmp_path), domains="wild,cat", limit=2, range="zero-one")
    assert few.class_names == ("wild", "cat") and few.dataset["y"].tolist() == [0, 1, 1]
    assert torch.equal(few.dataset["x"], stack(seeds["wild"] + seeds["cat"][:2]))
    # what conditional (cgan-style) models read: classes, their frequencies, batches of x and y
    info = TargetInfo.of(few)
    assert info.num_classes == 2 and info.keys == ("x", "y") and info.class_frequencies == pytest.approx((1 / 3, 2 / 3))
    batch = build_source(few, {"batch_size": 3}, 0, CPU).next()
    assert batch["y"].dtype == torch.int64 and sorted(batch["y"].tolist()) == [0, 1, 1]
    assert batch["x"].dtype == torch.float32 and batch["x"].min() >= 0 and batch["x"].max() <= 1
    # decoding, drawing samples, and the (empty) measures of its own
    assert torch.equal(few.to_images(few.decode(few.images)), few.images)
    reference = few.sample(20, torch.Generator().manual_seed(0))
    assert reference.shape == (20, 3, 8, 8) and few.evaluate(reference, torch.Generator()) == {}


def test_domains_held_out_split_and_jitter(tmp_path):
    seeds = domain_tree(tmp_path / "train", {"a": 3, "b": 3})
    held = domain_tree(tmp_path / "test", {"a": 2, "b": 1}, seed=70)
    save(tmp_path / "val" / "a" / "0.png", noise(1))  # test/ comes first
    target = build("domains", path=str(tmp_path), load_size=10, mirror=False)
    assert target.has_held_out and torch.equal(target.domain_images(0), stack(held["a"]))
    assert torch.equal(target.domain_images(0, held_out=False), stack(seeds["a"]))
    assert target.labelled_images()[1].tolist() == [[1, 0], [1, 0], [0, 1]]
    batch = {"x": target.decode(target.images), "y": target.labels}
    out = target.augment(batch, torch.Generator().manual_seed(0))
    assert out["x"].shape == (6, 3, 8, 8) and out["y"] is batch["y"] and not torch.equal(out["x"], batch["x"])
    assert build("domains", path=str(tmp_path), mirror=False).augment(batch, torch.Generator()) is batch
    # data.mirror alone (no load_size) flips about half the images, and nothing else
    flipped = build("domains", path=str(tmp_path)).augment(batch, torch.Generator().manual_seed(1))["x"]
    same = [torch.equal(f, x) for f, x in zip(flipped, batch["x"])]
    mirrored = [torch.equal(f, x.flip(-1)) for f, x in zip(flipped, batch["x"])]
    assert all(s or m for s, m in zip(same, mirrored)) and any(mirrored) and any(same)
    # data.split=test trains on test/
    test = build("domains", path=str(tmp_path), split="test")
    assert torch.equal(test.images, stack(held["a"] + held["b"])) and not test.has_held_out


# --------------------------------------------------------------------------- the shared data


def test_horse_zebra_sample_of_the_shared_data():
    root = data_dir("mmagic-gan-test-images") / "unpaired"
    target = build("unpaired", path=str(root), resolution=32)
    assert target.class_names == ("A", "B") and target.sizes == (2, 2) and target.shape == (3, 32, 32)
    for image, name in zip(target.groups["A"]["a"], ("trainA/1.jpg", "trainA/2.jpg")):
        assert np.array_equal(image.permute(1, 2, 0).numpy(), _open_image(root / name, 32))
    assert np.array_equal(target.groups["B"]["x"][1].permute(1, 2, 0).numpy(), _open_image(root / "trainB/4.jpg", 32))
    assert np.array_equal(target.domain_images(1)[0].permute(1, 2, 0).numpy(), _open_image(root / "testB/6.jpg", 32))


def test_afhq_samples_of_the_shared_data():
    root = data_dir("afhq-stargan-v2-samples") / "src"
    target = build("domains", path=str(root), resolution=32)
    assert target.class_names == ("cat", "dog", "wild") and target.sizes == (5, 5, 5) and target.num_classes == 3
    first_dog = sorted((root / "dog").glob("*.jpg"))[0]
    assert np.array_equal(target.domain_images(1)[0].permute(1, 2, 0).numpy(), _open_image(first_dog, 32))
    pair = build("unpaired", path=str(root), resolution=32, domains="dog,cat")
    assert pair.class_names == ("dog", "cat") and torch.equal(pair.groups["B"]["x"], target.domain_images(0))


# --------------------------------------------------------------------------- attributes

NAMES = ["5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Male", "Young"]
VALUES = [[1, -1, 1, 1, -1], [-1, 1, -1, -1, 1], [-1, -1, 1, 1, 1], [1, 1, -1, -1, -1], [-1, -1, -1, 1, 1]]


def celeba(root: Path, rows=VALUES, names=NAMES) -> Path:
    """img/ with one noise image per row, and the table beside it (repeated spaces, as CelebA's)."""
    lines = [str(len(rows)), " ".join(names) + " "]
    for i, values in enumerate(rows):
        save(root / "img" / f"{i:06d}.png", noise(i))
        lines.append(f"{i:06d}.png " + " ".join(f"{v:2d}" for v in values))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return root / "img"


def test_attribute_table_labels_and_held_out_images(tmp_path):
    folder = celeba(tmp_path)
    target = build("attributes", path=str(folder), attributes="Male,Blond_Hair", held_out=2)
    assert isinstance(target, AttributeImages) and target.multi_label and target.num_classes == 0
    assert target.keys == ("x", "attrs") and target.class_names == ("Male", "Blond_Hair")
    assert torch.equal(target.dataset["x"], stack(range(3)))
    assert target.dataset["attrs"].dtype == torch.float32
    assert target.dataset["attrs"].tolist() == [[1, 1], [0, 0], [1, 1]]
    images, attrs = target.labelled_images()
    assert torch.equal(images, stack([3, 4])) and attrs.tolist() == [[0, 0], [1, 0]]
    assert torch.equal(target.domain_images(0), stack([4])) and len(target.domain_images(1)) == 0
    assert torch.equal(target.domain_images(1, held_out=False), stack([0, 2]))
    # the attributes ride through a batch source undecoded
    batch = build_source(target, {"batch_size": 3}, 0, CPU).next()
    assert sorted(map(tuple, batch["attrs"].tolist())) == [(0, 0), (1, 1), (1, 1)]
    info = TargetInfo.of(target)
    assert info.multi_label and info.keys == ("x", "attrs") and info.class_names == ("Male", "Blond_Hair")
    assert TargetInfo.from_dict(info.to_dict()) == info
    # data.limit caps the training and held-out images; the table may be named and sit elsewhere
    few = build(
        "attributes",
        path=str(folder),
        attributes=["Young"],
        held_out=2,
        limit=1,
        table=str(tmp_path / "list_attr_celeba.txt"),
    )
    assert torch.equal(few.images, stack([0])) and torch.equal(few.labelled_images()[0], stack([3]))
    assert not build("attributes", path=str(folder), attributes="Young").has_held_out


def test_attribute_table_errors(tmp_path):
    folder = celeba(tmp_path)
    one_line_error(ConfigError, lambda: build("attributes", path=str(folder), attributes="Male,Red_Hair"),
                   "'Red_Hair'", "not a column", "available (5): 5_o_Clock_Shadow, Black_Hair")  # fmt: skip
    one_line_error(ConfigError, lambda: build("attributes", path=str(folder)), "data.attributes is required")
    one_line_error(ConfigError, lambda: build("attributes", path=str(folder), attributes="Male", held_out=5),
                   "data.held_out (5) must be < the 5 images")  # fmt: skip
    table = tmp_path / "list_attr_celeba.txt"
    lines = table.read_text().splitlines()
    for broken, fragments in (
        ({4: "000002.png 1 -1 1"}, ["line 5", "5 values", "got 3"]),
        ({3: "000001.png 1 -1 1 2 1"}, ["line 4", "'2' is not an attribute value"]),
        ({0: "five"}, ["line 1", "number of images"]),
        ({0: "6"}, ["announces 6 images", "lists 5"]),
    ):
        table.write_text("\n".join(broken.get(i, line) for i, line in enumerate(lines)))
        one_line_error(DataError, lambda: read_table(table), str(table), *fragments)
    table.write_text("\n".join(lines))
    (folder / "000003.png").unlink()
    one_line_error(DataError, lambda: build("attributes", path=str(folder), attributes="Male"),
                   "000003.png is listed in", "absent (1 of the 5")  # fmt: skip
    one_line_error(
        DataError, lambda: build("attributes", path=str(tmp_path / "none"), attributes="Male"), "does not exist"
    )
    (tmp_path / "no" / "table").mkdir(parents=True)
    one_line_error(DataError, lambda: build("attributes", path=str(tmp_path / "no" / "table"), attributes="Male"),
                   "no list_attr_celeba.txt", "set data.table")  # fmt: skip


# --------------------------------------------------------------------------- errors


def test_folders_that_are_not_two_domains(tmp_path):
    save(tmp_path / "flat" / "1.png", noise(0))
    one_line_error(DataError, lambda: build("unpaired", path=str(tmp_path / "flat")),
                   "holds one domain", "needs trainA/ and trainB/", "data.domains naming two")  # fmt: skip
    one_line_error(DataError, lambda: build("domains", path=str(tmp_path / "flat")),
                   "holds images but no domain folders", "a sub-folder of images per domain")  # fmt: skip
    save(tmp_path / "one" / "cat" / "1.png", noise(0))
    one_line_error(DataError, lambda: build("unpaired", path=str(tmp_path / "one")), "one domain folder (cat/)")
    save(tmp_path / "cyc" / "trainA" / "1.png", noise(0))
    one_line_error(DataError, lambda: build("unpaired", path=str(tmp_path / "cyc")), "trainA/ but no trainB/")
    domain_tree(tmp_path / "three", {"cat": 1, "dog": 1, "wild": 1})
    one_line_error(DataError, lambda: build("unpaired", path=str(tmp_path / "three")),
                   "3 domain folders (cat/, dog/, wild/)", "data.domains=cat,dog")  # fmt: skip
    one_line_error(ConfigError, lambda: build("unpaired", path=str(tmp_path / "three"), domains="cat,dog,wild"),
                   "exactly two", "got 3")  # fmt: skip
    one_line_error(DataError, lambda: build("domains", path=str(tmp_path / "three"), domains="cat,fox"),
                   "'fox'", "available: cat/, dog/, wild/")  # fmt: skip
    one_line_error(ConfigError, lambda: build("domains", path=str(tmp_path / "three"), domains="cat,cat"), "twice")


def test_missing_and_empty_folders(tmp_path):
    one_line_error(DataError, lambda: build("unpaired", path=str(tmp_path / "nope")), "does not exist")
    one_line_error(ConfigError, lambda: build("domains"), "data.path is required for the domains target")
    (tmp_path / "empty" / "dog").mkdir(parents=True)
    save(tmp_path / "empty" / "cat" / "1.png", noise(0))
    one_line_error(DataError, lambda: build("domains", path=str(tmp_path / "empty")),
                   f"domain folder {tmp_path / 'empty' / 'dog'} holds no images")  # fmt: skip
    domain_tree(tmp_path / "split" / "train", {"cat": 1, "dog": 1})
    save(tmp_path / "split" / "test" / "cat" / "1.png", noise(0))
    one_line_error(DataError, lambda: build("domains", path=str(tmp_path / "split")),
                   "held-out split", "has no dog/ folder")  # fmt: skip
    one_line_error(DataError, lambda: build("domains", path=str(tmp_path / "empty"), split="test"), "no test/ or val/")


def test_images_of_other_sizes(tmp_path):
    save(tmp_path / "mixed" / "cat" / "1.png", noise(0, 8, 8))
    save(tmp_path / "mixed" / "cat" / "2.png", noise(0, 6, 8))
    one_line_error(DataError, lambda: build("domains", path=str(tmp_path / "mixed")),
                   "differ in size", "set data.resolution")  # fmt: skip
    save(tmp_path / "pair" / "trainA" / "1.png", noise(0, 8, 8))
    save(tmp_path / "pair" / "trainB" / "1.png", noise(0, 6, 6))
    one_line_error(DataError, lambda: build("unpaired", path=str(tmp_path / "pair")),
                   "3×6×6", "3×8×8", "set data.resolution", "data.channels")  # fmt: skip
    assert build("unpaired", path=str(tmp_path / "pair"), resolution=4).shape == (3, 4, 4)
    save(tmp_path / "grey" / "trainA" / "1.png", noise(0, colour=False))
    save(tmp_path / "grey" / "trainB" / "1.png", noise(0))
    one_line_error(DataError, lambda: build("unpaired", path=str(tmp_path / "grey")), "1×8×8", "data.channels")
    assert build("unpaired", path=str(tmp_path / "grey"), channels=3).shape == (3, 8, 8)
    one_line_error(ConfigError, lambda: build("unpaired", path=str(tmp_path / "pair"), resolution=8, load_size=6),
                   "data.load_size (6) must be >= the image size 8")  # fmt: skip


def test_old_target_records_read_without_names():
    old = {"shape": [1, 28, 28], "num_classes": 10, "value_range": "minus-one-one", "class_frequencies": [0.1] * 10}
    info = TargetInfo.from_dict(old)
    assert info.class_names == () and not info.multi_label and info.keys == ("x", "y")
