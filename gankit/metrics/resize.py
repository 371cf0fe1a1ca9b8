"""The image resize in front of the FID Inception network. Published FIDs come from TensorFlow's
reference pipeline (TTUR, and torch-fidelity which reproduces it), whose 2015 Inception graph
resizes with TF1's legacy bilinear rule; PyTorch's `F.interpolate` samples half a pixel apart
from it, which moves the features by about a fifth, so gankit does it TensorFlow's way."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

RESIZES = ("tensorflow", "pytorch")
RESIZE_NAMES = {
    "tensorflow": "TensorFlow 1 bilinear (tf.image.resize_bilinear, align_corners=False, no half-pixel offset: "
    "source = output index × in/out), as TTUR and torch-fidelity",
    "pytorch": "PyTorch bilinear (F.interpolate, align_corners=False, half-pixel centres), as pytorch-fid and "
    "gankit before 2026-11",
}


def resize_like_tensorflow1(images: Tensor, size: tuple[int, int]) -> Tensor:
    """N×C×H×W float images resized to `size` by TF1's legacy bilinear rule: output index i reads
    source position i·(in/out), between floor and min(ceil, in − 1), lerped horizontally then
    vertically. Positions are computed in float32 (as TensorFlow does) unless the images are float64."""
    height, width = images.shape[-2:]
    rows = _source_positions(height, size[0], images)
    columns = _source_positions(width, size[1], images)
    top, bottom, row_weight = rows
    left, right, column_weight = columns
    upper = images[..., top, :]
    lower = images[..., bottom, :]
    upper = upper[..., left] + (upper[..., right] - upper[..., left]) * column_weight
    lower = lower[..., left] + (lower[..., right] - lower[..., left]) * column_weight
    return upper + (lower - upper) * row_weight[:, None]


def _source_positions(size_in: int, size_out: int, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The lower and upper source indices of each output index along one axis, and the weight of the upper."""
    dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    scale = torch.tensor(size_in / size_out, dtype=dtype)  # TF rounds the ratio to float32 first, so do we
    position = torch.arange(size_out, dtype=dtype) * scale
    below = position.floor()
    lower = below.long().clamp(min=0)
    upper = position.ceil().long().clamp(max=size_in - 1)
    return lower.to(like.device), upper.to(like.device), (position - below).to(like.device, like.dtype)


def resize_for_inception(images: Tensor, size: tuple[int, int], resize: str) -> Tensor:
    """Float images (any range; bilinear resizing is linear) resized by the named rule."""
    if images.shape[-2:] == size:
        return images
    if resize == "tensorflow":
        return resize_like_tensorflow1(images, size)
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False)
