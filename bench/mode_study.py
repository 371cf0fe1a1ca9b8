"""Mode coverage over seeds (gankit issue 18): every option against mode collapse, on the toy mixtures.

Each variant is a preset plus overrides; it runs as one `gankit study` over the seeds (its
members trained as one program where the model allows), and each member's final evaluation
(2,500 samples, the VEEGAN/PacGAN protocol: nearest centre, "high quality" within 3 standard
deviations) gives modes covered, the high-quality share and the KL divergence of the mode
histogram from uniform. Prints mean ± standard deviation per variant and writes every seed's
figures to a JSON file (default bench/mode_study.json) so that docs can quote them.

    python bench/mode_study.py --seeds 10 [--only grid-pack4 ...] [--steps N] [--runs-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import tempfile
from pathlib import Path

# name → (preset, overrides); the protocol needs 2,500 evaluation samples; one evaluation, at the end
PROTOCOL = ["eval.n_samples=2500", "train.eval_every=0", "train.checkpoint_every=0", "train.tensorboard=off"]
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "grid-plain": ("grid", []),
    "grid-pack2": ("grid", ["model.pack=2"]),
    "grid-pack4": ("grid", ["model.pack=4"]),
    "grid-mbstd": ("grid", ["model.d_mbstd=4"]),
    "grid-rpgan-r1r2": ("grid", ["loss.objective=relativistic", "loss.r1=0.05", "loss.r2=0.05"]),
    "grid-rpgan-r1r2-pack4": ("grid", ["loss.objective=relativistic", "loss.r1=0.05", "loss.r2=0.05", "model.pack=4"]),
    "ring1-plain": ("ring", ["data.radius=1.0", "data.std=0.01"]),
    "ring1-pack2": ("ring", ["data.radius=1.0", "data.std=0.01", "model.pack=2"]),
    "ring1-pack4": ("ring", ["data.radius=1.0", "data.std=0.01", "model.pack=4"]),
}
MEASURES = ("modes", "high_quality", "mode_kl")


def run_variant(name: str, preset: str, overrides: list[str], seeds: int, runs: Path) -> list[dict]:
    """Train one variant over `seeds` seeds as a study; each member's final measures."""
    import gankit

    result = gankit.study(preset, seeds=seeds, overrides=[*PROTOCOL, *overrides], runs_dir=runs, name=name,
                          quiet=True)  # fmt: skip
    return [
        {
            "variant": name,
            "seed": m["seed"],
            **{k: m["measures"].get(k, float("nan")) for k in MEASURES},
            "diverged": m["diverged"],
        }
        for m in result.settings[0].members
    ]


def summarise(rows: list[dict], name: str) -> str:
    mine = [r for r in rows if r["variant"] == name]
    parts = []
    for key in MEASURES:
        values = [float(r[key]) for r in mine]
        if not all(math.isfinite(v) for v in values):  # a mode KL with no mode covered is infinite
            parts.append(f"{key} {statistics.mean(values)}")
            continue
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        parts.append(f"{key} {statistics.mean(values):.3f} ± {spread:.3f}")
    return f"{name:<24} n={len(mine):<3} " + "  ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--runs-dir", help="keep the studies' folders here (default: a temporary folder)")
    parser.add_argument("--only", nargs="*", default=list(VARIANTS))
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=PRESET:KEY=VALUE,...",
                        help="a variant of your own (repeatable), e.g. 'g=grid:model.pack=2,loss.r1=0.1'")  # fmt: skip
    parser.add_argument("--steps", type=int, help="train.steps (default: the presets')")
    parser.add_argument("--set", action="append", default=[], help="an override added to every variant")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("mode_study.json"))
    args = parser.parse_args()
    for spec in args.variant:
        name, _, rest = spec.partition("=")
        preset, _, settings = rest.partition(":")
        VARIANTS[name] = (preset, [kv for kv in re.split(r",(?![^\[]*\])", settings) if kv])  # [a,b] stays whole
        args.only.append(name)
    args.only = [n for n in args.only if n in VARIANTS]
    extra = args.set + ([f"train.steps={args.steps}"] if args.steps else [])
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(args.runs_dir or scratch)
        for name in args.only:
            preset, overrides = VARIANTS[name]
            rows += run_variant(name, preset, [*overrides, *extra], args.seeds, runs)
            print(summarise(rows, name), flush=True)  # written as they come, so a long study can be read early
            args.out.write_text(json.dumps({"extra": extra, "rows": rows}, indent=1))
    for name in args.only:
        print(summarise(rows, name))
        print("   per seed (modes/high quality):",
              " ".join(f"{r['modes']}/{r['high_quality']:.3f}" for r in rows if r["variant"] == name))  # fmt: skip


if __name__ == "__main__":
    main()
