"""The objectives study: every objective on one set of networks, several seeds, toy and images.

    GANKIT_DATA=../shared/data python bench/objectives_study.py       # writes docs/objectives.md

Toy part: the ring (8 modes) and grid (25 modes) with the 2-D presets' networks (tanh MLPs,
3×128) for every variant; each variant keeps its paper's optimiser, D steps and regulariser,
and runs as one `gankit study` over `--seeds` seeds (its members trained as one program where
the model allows, one after another where it does not: spectral norm). Image part: DCGAN
(widths 32) on MNIST and Fashion-MNIST with the same variants, seed 0, scored by the domain
classifier; `--skip-images` keeps the page's image section as it was. The page, its tables
and pictures are written by this script only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PICTURES = DOCS / "images" / "objectives"

ADAM = lambda lr, b1, b2: ["optim.D.name=Adam", f"optim.D.lr={lr}", f"optim.D.betas=[{b1}, {b2}]",  # noqa: E731
                           "optim.G.name=Adam", f"optim.G.lr={lr}", f"optim.G.betas=[{b1}, {b2}]"]  # fmt: skip
# each variant: the objective with its paper's training settings (what the presets hold)
VARIANTS: dict[str, list[str]] = {
    "minimax": ["loss.objective=minimax"],
    "non-saturating": ["loss.objective=non-saturating"],
    "least-squares": ["loss.objective=least-squares", *ADAM(2e-4, 0.5, 0.999)],
    "wasserstein + clip (WGAN)": ["loss.objective=wasserstein", "loss.clip=0.01", "train.d_steps=5",
                                  "optim.D.name=RMSprop", "optim.D.lr=5e-5", "optim.G.name=RMSprop", "optim.G.lr=5e-5"],
    "wasserstein + GP (WGAN-GP)": ["loss.objective=wasserstein", "loss.gp=10", "train.d_steps=5", *ADAM(1e-4, 0.5, 0.9)],
    "hinge + SN in D (SN-GAN)": ["loss.objective=hinge", "model.spectral_norm=D", "train.d_steps=5",
                                 *ADAM(2e-4, 0.0, 0.9)],
}  # fmt: skip
# the two network sets of the 2-D presets: tanh MLPs (ring, grid, lsgan) and ReLU MLPs (wgan, wgan-gp)
NETWORKS = {
    "tanh": ['model.g_activation=["tanh"]', 'model.d_activation=["tanh"]'],
    "relu": ['model.g_activation=["relu"]', 'model.d_activation=["relu"]'],
}
TOY = {
    "ring": ["train.steps=3000"],
    "grid": ["train.steps=3000", "loss.r1=0", "loss.r2=0", "train.ema_decay=0"],
}  # the plain game on every target
# (target, networks) pairs studied: the ring with both network sets, the grid with ReLU networks
COMBOS = [("ring", "tanh"), ("ring", "relu"), ("grid", "relu")]
IMAGES = {
    "mnist": ["data.target=mnist"],
    "fashion-mnist": ["data.target=fashion-mnist"],
}
IMAGE_BASE = ["model.g_width=32", "model.d_width=32", "data.batch_size=64", "train.steps=1000",
              "train.eval_every=1000", "eval.n_samples=2000"]  # fmt: skip


def train(preset: str, overrides: list[str], name: str, runs: Path, reuse: bool = False) -> dict:
    """One run in its own process (so runs can share the cores); returns its summary."""
    if reuse and (runs / name / "summary.json").exists():
        return json.loads((runs / name / "summary.json").read_text())
    args = [sys.executable, "-m", "gankit", "train", preset, "--name", name, "--runs-dir", str(runs), "-q"]
    args += [a for o in [*overrides, "train.tensorboard=off"] for a in ("--set", o)]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    return json.loads((runs / name / "summary.json").read_text())


def heading(target: str, net: str) -> str:
    """The start of a toy section's heading, which names its target and networks."""
    return f"## {target} ({8 if target == 'ring' else 25} modes), {net} networks"


def earlier_sections() -> dict[str, str]:
    """The toy sections of the page as it is, by heading start, each marked as an earlier run's."""
    sections: dict[str, str] = {}
    page = (DOCS / "objectives.md").read_text() if (DOCS / "objectives.md").exists() else ""
    for part in page.split("\n## ")[1:]:
        title, _, body = ("## " + part).partition("\n")
        start = title.split(" (3×128)")[0]
        if not title.startswith("## Images"):
            note = (
                ""
                if "(kept from" in body
                else "\n(kept from an earlier run of this script, over 3 seeds per objective: not rerun this time)\n"
            )
            sections[start] = (title + "\n" + note + body).rstrip("\n")
    return sections


def study(target: str, overrides: list[str], name: str, seeds: int, runs: Path, reuse: bool) -> list[dict]:
    """One variant over `seeds` seeds as a `gankit study` in its own process; each member's summary."""
    folder = runs / name
    if not (reuse and (folder / "study.json").exists() and "result" in json.loads((folder / "study.json").read_text())):
        args = [sys.executable, "-m", "gankit", "study", target, "--seeds", str(seeds), "--name", name,
                "--runs-dir", str(runs), "-q"]  # fmt: skip
        args += [a for o in [*overrides, "train.tensorboard=off", "train.plot_every=3000"] for a in ("--set", o)]
        # two studies at a time: one thread each, so that neither waits on the other's threads
        done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode != 0:
            raise SystemExit(f"{name} failed:\n{done.stderr}")
    plan = json.loads((folder / "study.json").read_text())
    summaries = []
    for member in plan["settings"][0]["members"]:
        summary = json.loads((folder / member["run"] / "summary.json").read_text())
        summaries.append({**summary, "folder": folder / member["run"], "batched": plan["settings"][0]["batched"]})
    return summaries


def spread(values: list[float], digits: int = 2) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def montage(paths: list[Path], labels: list[str], out: Path) -> None:
    """The variants' pictures side by side (two rows), each under its label, as a small palette PNG."""
    images = [Image.open(p).convert("RGB") for p in paths]
    w, h = max(i.width for i in images), max(i.height for i in images)
    cols, caption = (len(images) + 1) // 2, 28
    sheet = Image.new("RGB", (cols * w, 2 * (h + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=22)
    for k, (image, label) in enumerate(zip(images, labels)):
        x, y = (k % cols) * w, (k // cols) * (h + caption)
        draw.text((x + w // 2, y + 2), label, fill="black", font=font, anchor="ma")
        sheet.paste(image, (x, y + caption))
    sheet = sheet.resize((sheet.width // 2, sheet.height // 2), Image.LANCZOS)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)


def reading(results: list, combo: tuple[str, str], modes: int) -> str:
    """One generated sentence: the best variant by modes then high quality, and the ones that failed."""
    summary = {}
    for job, members in results:
        if job[0] == combo:
            summary.setdefault(job[1], []).extend(s["measures"] for s in members)
    mean = lambda v, key: statistics.fmean(m[key] for m in summary[v])  # noqa: E731
    best = max(summary, key=lambda v: (mean(v, "modes"), mean(v, "high_quality")))
    failed = [v for v in summary if mean(v, "modes") < modes / 2]
    line = f"Best here: **{best}** ({mean(best, 'modes'):.1f}/{modes} modes, {100 * mean(best, 'high_quality'):.0f} % high quality)."
    if failed:
        line += f" Covering fewer than half the modes on average: {', '.join(failed)}."
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2, help="studies (or image runs) at a time")
    parser.add_argument("--runs-dir", default=str(ROOT / "runs" / "objectives"))
    parser.add_argument("--skip-images", action="store_true")
    parser.add_argument("--combos", nargs="*", default=[f"{t}-{n}" for t, n in COMBOS],
                        help="toy sections to run (e.g. ring-tanh); the page keeps the others as they were")  # fmt: skip
    parser.add_argument("--reuse", action="store_true", help="keep runs that already finished in --runs-dir")
    args = parser.parse_args()
    runs = Path(args.runs_dir)

    chosen = [(t, n) for t, n in COMBOS if f"{t}-{n}" in args.combos]
    kept = earlier_sections()
    jobs = []
    for target, net in chosen:
        extra, layers = TOY[target], NETWORKS[net]
        for variant, settings in VARIANTS.items():
            name = f"{target}-{net}-{list(VARIANTS).index(variant)}"
            jobs.append(((target, net), variant, target, [*extra, *layers, *settings], name))
    with ThreadPoolExecutor(args.jobs) as pool:  # every variant's seeds as one study
        results = list(pool.map(lambda job: (job, study(job[2], job[3], job[4], args.seeds, runs, args.reuse)), jobs))
    images = []
    if not args.skip_images:
        for dataset, extra in IMAGES.items():
            for variant, settings in VARIANTS.items():
                name = f"{dataset}-{list(VARIANTS).index(variant)}"
                images.append((dataset, variant, 0, "dcgan", [*extra, *IMAGE_BASE, *settings], name))
        with ThreadPoolExecutor(args.jobs) as pool:
            image_results = list(pool.map(lambda job: (job, train(job[3], job[4], job[5], runs, args.reuse)), images))

    lines = [
        "# Objectives study",
        "",
        "Generated by `python bench/objectives_study.py` (do not edit by hand). Every objective is",
        "trained on one set of networks with its paper's optimiser, D steps and regulariser; the",
        f"numbers are mean ± standard deviation over {args.seeds} seeds, each measured on 2,500 samples",
        "with the mode-coverage protocol (nearest centre, high quality within 3 standard",
        "deviations) and the sliced Wasserstein-1 distance to the target.",
        "",
        "Each variant's seeds ran as one `gankit study` (members trained as one program, except",
        "spectral norm's, trained one after another); the last column is the study's wall time for",
        "all its seeds, two studies at a time, as the machine was then (a study that ran beside other",
        "work, such as the test suite, shows it). Machine: 2 CPU cores, torch CPU build.",
        "",
    ]
    for target, net in COMBOS:
        modes = 8 if target == "ring" else 25
        if (target, net) not in chosen:  # not run this time: the page's section as it was
            lines += [kept[heading(target, net)], ""] if heading(target, net) in kept else []
            continue
        lines += [f"{heading(target, net)} (3×128), 3,000 iterations", "",
                  f"| objective | modes covered | high quality | sliced W1 | minutes for {args.seeds} seeds |",
                  "|---|---|---|---|---|"]  # fmt: skip
        pictures, names = [], []
        for variant in VARIANTS:
            ((_, members),) = [(j, m) for j, m in results if j[0] == (target, net) and j[1] == variant]
            m = [s["measures"] for s in members]
            seconds = [s["seconds"] for s in members]  # a batched member's clock runs for the whole study
            lines.append(
                f"| {variant} | {spread([x['modes'] for x in m], 1)} | "
                f"{spread([100 * x['high_quality'] for x in m], 0)} % | {spread([x['sliced_w1'] for x in m], 3)} | "
                f"{(max(seconds) if members[0]['batched'] else sum(seconds)) / 60:.1f} |"
            )
            pictures.append(members[0]["folder"] / "plots" / "distribution.png")
            names.append(variant)
        lines += ["", reading(results, (target, net), modes)]
        picture = PICTURES / f"{target}-{net}.png"
        montage(pictures, names, picture)
        lines += ["", "Seed 0 of each, in the table's order (left to right, top row first):", "",
                  f"![{target}](images/objectives/{picture.name})", ""]  # fmt: skip
    if args.skip_images:  # the image section as the page last had it
        kept = (DOCS / "objectives.md").read_text().partition("## Images")
        lines += [(kept[1] + kept[2]).rstrip("\n"), ""] if kept[1] else []
    else:
        lines += ["## Images: DCGAN (widths 32, batch 64), 1,000 iterations, seed 0", "",
                  "D normalises with batch norm, and with layer norm under the gradient penalty",
                  "(`model.d_norm = auto`: the penalty is per sample, batch norm couples the samples).",
                  "Scored by the domain classifier on 2,000 samples: mean top-class confidence (real test",
                  "images: ≈ 0.99), classes covered (of 10) and KL of the predicted class histogram to the data's.",
                  "", "| data | objective | confidence | classes covered | class KL | minutes |", "|---|---|---|---|---|---|"]  # fmt: skip
        for dataset in IMAGES:
            grids = []
            for variant in VARIANTS:
                ((job, s),) = [(j, s) for j, s in image_results if j[0] == dataset and j[1] == variant]
                m = s["measures"]
                lines.append(f"| {dataset} | {variant} | {m['confidence']:.3f} | {m['classes_covered']} | "
                             f"{m['class_kl']:.3f} | {s['seconds'] / 60:.1f} |")  # fmt: skip
                grids.append(runs / job[5] / "plots" / "samples-grid.png")
            montage(grids, list(VARIANTS), PICTURES / f"{dataset}.png")
        lines += [""] + [f"![{d}](images/objectives/{d}.png)" for d in IMAGES] + [""]
    (DOCS / "objectives.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
