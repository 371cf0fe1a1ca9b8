"""gankit's fast training paths against the usual PyTorch GAN loop, in one process on one device.

    python bench/fast_train.py                       # on a CUDA GPU: the figures for docs/benchmarks.md
    python bench/fast_train.py --device cpu --quick  # a smoke run of the script itself

The reference is the loop tutorials and pytorch/examples' dcgan write: eager fp32, D updated
on a real batch and on a detached generated batch, then G on that generated batch, both losses
read with `.item()` every iteration; its data sit on the device already (kinder to it than a
DataLoader). Both sides train the same networks (gankit's, taken out as plain modules) with
Adam. Workloads: (a) the toy ring GAN (MLPs 2×128, batch 512), (b) DCGAN 64×64 RGB at batch
128 and at larger batches, (c) DCGAN at 28 and 32 px, one channel. Image data are random bytes
in an .npz (speed does not depend on their content).

First, on a GPU, a correctness check: one captured iteration against the eager one (the
script stops if they differ). Printed per workload: iterations/s and images/s of each variant, the ratio to the reference,
and model-FLOP utilisation: FLOPs of one reference iteration (torch.utils.flop_counter) times
iterations/s, over the bf16 matrix-multiply rate measured in the same run.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from gankit.config import resolve
from gankit.engine import Trainer
from gankit.graphs import GraphedStep, set_capturable


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loop_step(trainer: Trainer) -> None:
    """One iteration as the training loop makes it (its count decides, e.g., when gradient
    norms are measured)."""
    trainer._step()
    trainer.step += 1


def rate(step: Callable[[], None], device: torch.device, iters: int, repeats: int) -> float:
    """Median iterations/s of `step` over `repeats` timings of `iters` iterations (after warm-up)."""
    for _ in range(max(5, iters // 10)):
        step()
    synchronize(device)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            step()
        synchronize(device)
        rates.append(iters / (time.perf_counter() - start))
    return statistics.median(rates)


def matmul_rate(device: torch.device, quick: bool) -> float:
    """Measured bf16 matrix-multiply FLOP/s (the denominator of model-FLOP utilisation)."""
    n = 1024 if quick else 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    per_second = rate(lambda: a @ b, device, 5 if quick else 50, 3)
    return 2 * n**3 * per_second


def reference_step(trainer: Trainer, data: torch.Tensor, batch: int) -> Callable[[], None]:
    """The tutorial loop on `trainer`'s networks (plain modules) with fresh Adam optimisers."""
    G, D = trainer.gan.nets["G"], trainer.gan.nets["D"]
    latent = trainer.gan.latent
    settings = trainer.config["optim"]
    opt_d = torch.optim.Adam(D.parameters(), lr=settings["D"]["lr"], betas=tuple(settings["D"]["betas"]))
    opt_g = torch.optim.Adam(G.parameters(), lr=settings["G"]["lr"], betas=tuple(settings["G"]["betas"]))
    device = data.device
    ones, zeros = torch.ones(batch, 1, device=device), torch.zeros(batch, 1, device=device)
    log = []

    def step() -> None:
        real = data[torch.randint(len(data), (batch,), device=device)]
        opt_d.zero_grad()
        loss_real = F.binary_cross_entropy_with_logits(D(real).view(batch, 1), ones)
        loss_real.backward()
        fake = G(torch.randn(batch, latent.dim, device=device))
        loss_fake = F.binary_cross_entropy_with_logits(D(fake.detach()).view(batch, 1), zeros)
        loss_fake.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = F.binary_cross_entropy_with_logits(D(fake).view(batch, 1), ones)
        loss_g.backward()
        opt_g.step()
        log.append((loss_real.item() + loss_fake.item(), loss_g.item()))  # as the tutorials print

    return step


def check_captured_step(device: torch.device) -> None:
    """One iteration replayed from a CUDA graph must update the weights as the eager iteration
    does (toy ring, fp32, both with capturable Adam); stops the benchmark when it does not."""
    config = resolve("ring", overrides=["device=cuda", "train.tensorboard=off", "model.g_hidden=[32, 32]",
                                        "model.d_hidden=[32, 32]", "data.batch_size=32", "train.fast=off"])  # fmt: skip
    eager, graphed = Trainer(config), Trainer(config)
    for optimizer in eager.optimizers.values():
        set_capturable(optimizer, True, device)  # the same Adam arithmetic on both sides
    graphed._step = GraphedStep(graphed)
    for _ in range(GraphedStep.warmup + 1):  # warm-up iterations, then the first replay
        eager.train_step()
        graphed._step()
    if graphed._step.graph is None:
        raise SystemExit("check failed: the training iteration was not captured (see the warning above)")
    worst = 0.0
    for (key, a), b in zip(eager.gan.state_dict().items(), graphed.gan.state_dict().values()):
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            if not torch.allclose(a, b, rtol=1e-5, atol=1e-7):
                raise SystemExit(
                    f"check failed: {key} differs after a captured iteration (max {(a - b).abs().max():.3g})"
                )
            worst = max(worst, float((a - b).abs().max()))
    print(f"check: a captured iteration updates the weights as the eager one does (max |difference| {worst:.2e})")


def workloads(folder: Path, quick: bool) -> dict[str, tuple[str, list[str], int]]:
    """name → (preset, overrides, batch): the benchmark's training setups."""
    n = 512 if quick else 4096
    setups: dict[str, tuple[str, list[str], int]] = {
        f"toy ring, MLP 2x128, batch {64 if quick else 512}": ("ring", ["model.g_hidden=[128, 128]", "model.d_hidden=[128, 128]"], 64 if quick else 512)
    }  # fmt: skip
    shapes = [("DCGAN 64x64 RGB", 64, 3, [128] + ([] if quick else [256, 512, 1024])),
              ("DCGAN 28x28 grey", 28, 1, [128]), ("DCGAN 32x32 grey", 32, 1, [128])]  # fmt: skip
    for name, resolution, channels, batches in shapes:
        path = folder / f"random-{resolution}-{channels}.npz"
        shape = (n, resolution, resolution) if channels == 1 else (n, resolution, resolution, channels)
        np.savez(path, x=np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
        width = 8 if quick else 64
        for batch in [16] if quick else batches:
            overrides = ["data.target=npz", f"data.path={path}", f"model.g_width={width}", f"model.d_width={width}"]
            setups[f"{name}, batch {batch}"] = ("dcgan", overrides, batch)
    return setups


VARIANTS: dict[str, list[str]] = {
    # each variant runs exactly what it names: train.fast=off unless the variant is the automatic choice
    "gankit eager fp32 (train.fast=off)": ["train.fast=off"],
    "gankit default: fp32, train.fast=auto": [],
    "gankit bf16 (train.fast=off)": ["train.precision=bf16", "train.fast=off"],
    "gankit bf16, train.fast=auto": ["train.precision=bf16"],
    "gankit bf16 + channels-last + fused Adam": ["train.precision=bf16", "train.channels_last=true",
                                                 "optim.D.fused=true", "optim.G.fused=true", "train.fast=off"],
    "gankit bf16 + fused Adam + CUDA graph": ["train.precision=bf16", "optim.D.fused=true", "optim.G.fused=true",
                                              "train.cuda_graph=true", "train.fast=off"],
    "gankit fp32 + fused Adam + CUDA graph": ["optim.D.fused=true", "optim.G.fused=true", "train.cuda_graph=true",
                                              "train.fast=off"],
    "gankit bf16 + channels-last + fused Adam + CUDA graph": ["train.precision=bf16", "train.channels_last=true",
                                                              "optim.D.fused=true", "optim.G.fused=true",
                                                              "train.cuda_graph=true", "train.fast=off"],
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that the script runs")
    parser.add_argument("--only", default="", help="run the workloads whose name contains this text")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="gankit: %(message)s")
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    print(f"device: {name}, torch {torch.__version__}")
    if device.type == "cuda":
        check_captured_step(device)
    peak = matmul_rate(device, args.quick)
    print(f"measured bf16 matmul rate: {peak / 1e12:.1f} TFLOP/s")
    with tempfile.TemporaryDirectory() as tmp:
        for title, (preset, overrides, batch) in workloads(Path(tmp), args.quick).items():
            if args.only not in title:
                continue
            common = [*overrides, f"data.batch_size={batch}", f"device={args.device}", "train.tensorboard=off"]
            trainer = Trainer(resolve(preset, overrides=common))
            data = torch.cat([trainer.data.next()["x"] for _ in range(8)])
            step = reference_step(trainer, data, batch)
            step()
            with FlopCounterMode(display=False) as counter:
                step()
            flops = counter.get_total_flops()
            reference = rate(step, device, args.iters, args.repeats)
            print(f"\n{title}: {flops / 1e9:.3f} GFLOP per iteration")
            print(f"  {'reference tutorial loop':56s} {reference:9.1f} it/s {reference * batch:10.0f} img/s"
                  f"   ratio 1.00   MFU {100 * flops * reference / peak:5.1f}%")  # fmt: skip
            for variant, settings in VARIANTS.items():
                if device.type != "cuda" and "CUDA graph" in variant:
                    continue
                trainer = Trainer(resolve(preset, overrides=[*common, *settings]))
                its = rate(lambda trainer=trainer: loop_step(trainer), device, args.iters, args.repeats)
                print(f"  {variant:56s} {its:9.1f} it/s {its * batch:10.0f} img/s   ratio {its / reference:4.2f}"
                      f"   MFU {100 * flops * its / peak:5.1f}%")  # fmt: skip
                if "train.fast=auto" in variant:
                    print(f"    (chose: {trainer.config['train']['fast_chosen']})")


if __name__ == "__main__":
    main()
