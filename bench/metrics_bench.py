"""Feature extraction speed on the CPU, and gankit's FID against an independent SciPy computation.

    GANKIT_DATA=../shared/data python bench/metrics_bench.py [--inception-images 100]

Prints the time to extract domain (LeNet) features of 10,000 MNIST test images, the time per
image of the FID Inception-v3 (measured on a smaller set; 10,000 would take proportionally
longer), and FID between MNIST train and test features computed by gankit (float64, eigenvalue
trace) and by the pytorch-fid formula in NumPy/SciPy (scipy.linalg.sqrtm), with their difference.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg
import torch

from gankit.config import resolve
from gankit.data import build_target
from gankit.metrics.features import domain_features, inception_features
from gankit.metrics.scores import fid


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inception-images", type=int, default=100)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    train = build_target(resolve("dcgan")["data"])
    test = build_target(resolve("dcgan", overrides=["data.split=test"])["data"]).dataset["x"][:10000]
    domain = domain_features(train.classifier())
    start = time.perf_counter()
    test_features = domain.features(test)
    print(f"domain features, 10,000 MNIST test images: {time.perf_counter() - start:.2f} s")
    train_features = domain.features(train.dataset["x"][:10000])
    ours = fid(train_features, test_features)
    theirs = scipy_fid(train_features.double().numpy(), test_features.double().numpy())
    print(f"FID train[:10000] vs test (domain features): gankit {ours:.10f}, scipy/pytorch-fid formula {theirs:.10f}, "
          f"relative difference {abs(ours - theirs) / theirs:.2e}")  # fmt: skip
    inception = inception_features()
    images = test[: args.inception_images]
    inception.features(images[:2])  # warm-up
    start = time.perf_counter()
    inc = inception.features(images)
    seconds = time.perf_counter() - start
    print(f"Inception-v3 features, {len(images)} images: {seconds:.1f} s ({seconds / len(images):.3f} s per image)")
    half = len(inc) // 2
    print(
        f"FID of two halves of those {len(images)} Inception features: gankit {fid(inc[:half], inc[half:]):.6f}, "
        f"scipy {scipy_fid(inc[:half].double().numpy(), inc[half:].double().numpy()):.6f} (few samples: rank-deficient)"
    )


if __name__ == "__main__":
    main()
