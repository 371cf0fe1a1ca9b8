"""The resize in front of the FID Inception: TensorFlow 1's legacy bilinear rule against a float64
NumPy transcription of its formula, its difference from F.interpolate, and the Inception features
and protocol behind each resize. (The cross-check against another FID implementation needs
packages the suite does not install; it is bench/fid_check.py, with its numbers in docs/metrics.md.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gankit.config import resolve
from gankit.errors import ConfigError
from gankit.metrics.features import inception_features, inception_path
from gankit.metrics.resize import resize_for_inception, resize_like_tensorflow1


def tensorflow1_bilinear_reference(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """tf.image.resize_bilinear(align_corners=False) of TF1, pixel by pixel in float64: output (i, j)
    reads source (i·H/h, j·W/w), its neighbours floor and min(ceil, size − 1), lerped across then down."""
    rows, cols = image.shape[-2:]
    out = np.empty((*image.shape[:-2], height, width))
    for i in range(height):
        y = i * rows / height
        y0, y1 = int(np.floor(y)), min(int(np.ceil(y)), rows - 1)
        for j in range(width):
            x = j * cols / width
            x0, x1 = int(np.floor(x)), min(int(np.ceil(x)), cols - 1)
            top = image[..., y0, x0] + (image[..., y0, x1] - image[..., y0, x0]) * (x - np.floor(x))
            bottom = image[..., y1, x0] + (image[..., y1, x1] - image[..., y1, x0]) * (x - np.floor(x))
            out[..., i, j] = top + (bottom - top) * (y - np.floor(y))
    return out


@pytest.mark.parametrize(
    "size_in, size_out", [((5, 7), (11, 4)), ((3, 3), (8, 8)), ((9, 6), (4, 5)), ((32, 32), (37, 41))]
)
def test_tensorflow_resize_is_the_tf1_formula(size_in, size_out):
    images = torch.rand(2, 3, *size_in, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 255
    expected = tensorflow1_bilinear_reference(images.numpy(), *size_out)
    np.testing.assert_allclose(resize_like_tensorflow1(images, size_out).numpy(), expected, rtol=0, atol=1e-10)
    # float32 images: positions in float32, as TensorFlow computes them
    single = resize_like_tensorflow1(images.float(), size_out)
    assert single.dtype == torch.float32
    np.testing.assert_allclose(single.double().numpy(), expected, rtol=0, atol=2e-3)


def test_tensorflow_resize_differs_from_interpolate():
    # 2 → 4 pixels: TF1 reads positions 0, ½, 1, 1½ (the last clamped to 1); PyTorch's half-pixel
    # centres read −¼ (clamped to 0), ¼, ¾, 1¼ (clamped to 1)
    row = torch.tensor([[[[0.0, 1.0]]]])
    assert resize_like_tensorflow1(row, (1, 4)).flatten().tolist() == [0.0, 0.5, 1.0, 1.0]
    pytorch = F.interpolate(row, size=(1, 4), mode="bilinear", align_corners=False)
    assert pytorch.flatten().tolist() == [0.0, 0.25, 0.75, 1.0]
    # on images, the two rules land far apart, and an image of the right size is left alone
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 255
    ours, theirs = (
        resize_for_inception(images, (299, 299), "tensorflow"),
        resize_for_inception(images, (299, 299), "pytorch"),
    )
    assert torch.equal(theirs, F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False))
    assert float((ours - theirs).abs().mean()) > 10
    assert resize_for_inception(images, (32, 32), "tensorflow") is images


def test_inception_features_behind_each_resize_and_their_protocol():
    images = torch.randint(0, 256, (3, 3, 32, 32), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    network = torch.jit.load(str(inception_path())).eval()
    tensorflow, pytorch = inception_features(resize="tensorflow"), inception_features(resize="pytorch")
    with torch.no_grad():
        expected = network(
            torch.from_numpy(tensorflow1_bilinear_reference(images.double().numpy(), 299, 299)).float() / 128 - 1
        )
        old = network(F.interpolate(images.float() / 255, size=(299, 299), mode="bilinear") * (1 + 127 / 128) - 1)
    ours = tensorflow.features(images)
    assert torch.allclose(ours, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(pytorch.features(images), old)  # the old numbers, bit for bit
    assert float((ours - old).norm() / old.norm()) > 0.05  # the resize moves the features
    assert tensorflow.protocol["resize"] == "tensorflow" and "TensorFlow 1 bilinear" in tensorflow.preprocessing
    assert pytorch.protocol["resize"] == "pytorch" and "F.interpolate" in pytorch.preprocessing
    assert tensorflow.weights_sha256 == pytorch.weights_sha256


def test_inception_resize_setting():
    assert resolve("dcgan")["eval"]["inception_resize"] == "tensorflow"
    with pytest.raises(ConfigError, match="eval.inception_resize must be one of tensorflow, pytorch"):
        resolve("dcgan", overrides=["eval.inception_resize=bilinear"])
