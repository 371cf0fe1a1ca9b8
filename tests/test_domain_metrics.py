"""Translation measures: the digit reader in every digit style, digits kept, the domain judge
(single- and multi-label, down to 5 and 2 images a domain) and the target share."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.data.published import read_idx
from gankit.errors import DataError
from gankit.metrics.classifier import cache_dir
from gankit.metrics.domains import digits_kept, domain_judge, mnist_style, read_digits, target_share
from tests.conftest import data_dir

TINTS = {"red": (1.0, 0.3, 0.2), "green": (0.2, 1.0, 0.3), "blue": (0.3, 0.2, 1.0)}


def _mnist(split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n uint8 N×1×28×28 digits of an MNIST split, and their labels."""
    root, prefix = data_dir("mnist"), "train" if split == "train" else "t10k"
    x = read_idx(root / f"{prefix}-images-idx3-ubyte.gz", 2051)[:n]
    y = read_idx(root / f"{prefix}-labels-idx1-ubyte.gz", 2049)[:n]
    return torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def _styles(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Digits in each style a translation task uses: plain, inverted, the digit in one channel,
    and a tint multiplying the grey."""
    zero = torch.zeros_like(x)
    styles = {"plain": x, "inverted": 255 - x}
    for i, name in enumerate(TINTS):
        styles[f"{name} channel"] = torch.cat([x if c == i else zero for c in range(3)], 1)
    for name, tint in TINTS.items():
        styles[f"{name} tint"] = (x.float() * torch.tensor(tint).view(1, 3, 1, 1)).round().to(torch.uint8)
    styles["inverted green tint"] = 255 - styles["green tint"]
    return styles


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: small LeNets on two shared cores train many times slower with two."""
    torch.set_num_threads(1)  # conftest's _quiet_threads puts the count back afterwards


@pytest.fixture(scope="module")
def test_digits() -> tuple[torch.Tensor, torch.Tensor]:
    return _mnist("test", 1000)


def test_the_reader_reads_digits_in_every_style(test_digits):
    x, y = test_digits
    accuracy = {name: float((read_digits(images) == y).double().mean()) for name, images in _styles(x).items()}
    print("digit reader accuracy on 1,000 MNIST test digits:", accuracy)
    assert min(accuracy.values()) >= 0.97, accuracy
    assert read_digits(x).dtype == torch.int64


def test_mnist_style_is_a_bright_digit_on_black_whatever_the_colours(test_digits):
    x, _ = test_digits
    x = x[:50]
    green_on_red = torch.cat([255 - x, x, torch.zeros_like(x)], 1)  # equal channel means: grey by mean fails
    big = torch.nn.functional.interpolate(green_on_red.float(), size=64, mode="bilinear").round().to(torch.uint8)
    for images in (255 - x, green_on_red, big):
        styled = mnist_style(images)
        assert styled.shape == (50, 1, 28, 28) and styled.dtype == torch.uint8
        assert styled[:, :, :2].float().mean() < 5 and styled.amax((1, 2, 3)).min() > 200


def test_digits_kept_is_one_for_the_same_digits_and_a_tenth_when_one_in_ten_matches(test_digits):
    x, y = test_digits
    read = read_digits(x)
    # ten digits of each class the reader gets right, ordered so that image i shows digit i % 10
    chosen = torch.stack([torch.nonzero((y == d) & (read == d)).flatten()[:10] for d in range(10)], 1).flatten()
    inputs = x[chosen]
    assert torch.equal(y[chosen], torch.arange(100) % 10)
    assert digits_kept(inputs, _styles(inputs)["inverted green tint"]) == 1.0
    # outputs 0-9 are other images of the input's digit; outputs 10-99 show the next digit
    shuffled = torch.cat([torch.arange(10, 20), torch.arange(11, 100), torch.tensor([0])])
    assert digits_kept(inputs, _styles(inputs[shuffled])["red channel"]) == 0.1
    # a random pairing keeps about the share of pairs that happen to share a digit
    perm = torch.randperm(1000, generator=torch.Generator().manual_seed(1))
    chance = float((y == y[perm]).float().mean())
    assert abs(digits_kept(x, 255 - x[perm]) - chance) < 0.02 and 0.07 < chance < 0.13
    with pytest.raises(ValueError, match="3 inputs but 2 outputs"):
        digits_kept(x[:3], x[:2])


def test_a_missing_mnist_folder_is_one_line_naming_it_and_gankit_data(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path))
    with pytest.raises(DataError) as caught:
        read_digits(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "mnist") in message and "GANKIT_DATA" in message


def _one_hot(ids: torch.Tensor, k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(ids, k).float()


def test_the_judge_tells_plain_from_inverted_digits_on_held_out_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    x, _ = _mnist("train", 600)
    images = torch.cat([x[:300], 255 - x[300:]])
    labels = _one_hot(torch.arange(600) // 300, 2)
    rng = torch.get_rng_state()
    judge = domain_judge("plain-inverted", (images, labels), None, multi_label=False)
    assert torch.equal(torch.get_rng_state(), rng)
    assert judge.test_accuracy >= 0.99 and judge.protocol["judge_test"] == "held-out: 120 of 600 images"
    test, _ = _mnist("test", 200)
    test_images, wanted = torch.cat([test[:100], 255 - test[100:]]), torch.arange(200) // 100
    probabilities = judge.probabilities(test_images.float() / 127.5 - 1)
    share = target_share(probabilities, wanted, multi_label=False)
    print("plain/inverted judge: held-out accuracy", judge.test_accuracy, "fresh test digits", share)
    assert share >= 0.99 and target_share(probabilities, 1 - wanted, multi_label=False) <= 0.01
    again = domain_judge("plain-inverted", (images, labels), None, multi_label=False)
    assert again.weights_hash == judge.weights_hash and len(list(cache_dir().glob("plain-inverted-*"))) == 1


def _attributes(x: torch.Tensor, red: torch.Tensor, inverted: torch.Tensor) -> torch.Tensor:
    """RGB digits, inverted and/or tinted red as the 0/1 attribute vectors say."""
    rgb = x.expand(-1, 3, -1, -1).float()
    rgb = torch.where(inverted.view(-1, 1, 1, 1) > 0, 255 - rgb, rgb)
    tint = torch.where(red.view(-1, 1, 1, 1) > 0, torch.tensor([1.0, 0.4, 0.4]).view(1, 3, 1, 1), torch.ones(1))
    return (rgb * tint).round().to(torch.uint8)


def test_a_multi_label_judge_gets_every_attribute_right(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    x, _ = _mnist("train", 800)
    gen = torch.Generator().manual_seed(0)
    attributes = torch.randint(0, 2, (800, 2), generator=gen).float()  # red yes/no, inverted yes/no
    images = _attributes(x, attributes[:, 0], attributes[:, 1])
    train, test = (images[:600], attributes[:600]), (images[600:], attributes[600:])
    judge = domain_judge("red-inverted", train, test, multi_label=True)
    print("red × inverted judge: all attributes right on 200 test images:", judge.test_accuracy)
    assert judge.test_accuracy >= 0.95 and judge.multi_label and judge.num_classes == 2
    assert (
        "multi-label" in judge.protocol["classifier"] and judge.protocol["judge_test"] == "given test set: 200 images"
    )
    probabilities = judge.probabilities(test[0].float() / 127.5 - 1)
    assert probabilities.shape == (200, 2) and not torch.allclose(probabilities.sum(1), torch.ones(200))
    assert target_share(probabilities, test[1], multi_label=True) == pytest.approx(judge.test_accuracy)
    single = domain_judge("red-inverted", train, test, multi_label=False)  # the mode is part of the cache key
    assert single.weights_hash != judge.weights_hash and len(list(cache_dir().glob("red-inverted-*"))) == 2


def test_target_share_against_hand_computed_values():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    assert target_share(p, torch.tensor([0, 1, 1, 1]), multi_label=False) == 0.5  # rows 0 and 1
    assert target_share(p, _one_hot(torch.tensor([0, 1, 2, 0]), 3), multi_label=False) == 1.0
    sig = torch.tensor([[0.9, 0.2], [0.6, 0.7], [0.4, 0.1], [0.5, 0.8]])
    wanted = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    # row 0 right; row 1 has attribute 2 wrong; row 2 right; row 3: 0.5 is not above the threshold
    assert target_share(sig, wanted, multi_label=True) == 0.5


def _coloured(colours: list[tuple[float, float, float]], n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n noisy 3×32×32 images of each colour, with one-hot labels of their colour."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.tensor(colours).repeat_interleave(n, 0).view(-1, 3, 1, 1) * 255
    images = (base * 0.7 + torch.rand(len(base), 3, 32, 32, generator=gen) * 80).clamp(0, 255).to(torch.uint8)
    return images, _one_hot(torch.arange(len(base)) // n, len(colours))


@pytest.mark.parametrize("per_domain", [5, 2])
def test_a_judge_of_a_few_images_a_domain_trains_and_separates_them(per_domain, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    images, labels = _coloured([(1, 0.2, 0.1), (0.1, 0.8, 0.2), (0.2, 0.3, 1)], per_domain, seed=per_domain)
    judge = domain_judge("tiny", (images, labels), None, multi_label=False)
    probabilities = judge.probabilities(images.float() / 127.5 - 1)
    assert target_share(probabilities, labels, multi_label=False) == 1.0 and judge.test_accuracy == 1.0
    expected = {5: "held-out: 3 of 15 images", 2: "training images (too few to hold any back): 6 of 6 images"}
    assert judge.protocol["judge_test"] == expected[per_domain]
