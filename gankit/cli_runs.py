"""The `gankit` commands that use a trained run: sample, interpolate, translate, eval, report,
compare and export (gankit/cli.py has the others and runs them all).

Each command imports what it needs (torch, NumPy, the API) inside its function, so that
importing this module for `--help` stays instant.
"""

from __future__ import annotations

import argparse
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .arguments import TRUNCATION_SWEEP, check_output_file
from .errors import GankitError
from .interpolate import WALKS

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

SAMPLE_FORMATS = (".npy", ".csv")
SWEEP_FILE = "truncation-sweep.json"


def add_run_commands(sub: argparse._SubParsersAction) -> None:
    """The subparsers of the commands that use a trained run."""
    p = sub.add_parser("sample", help="generate samples from a trained run")
    p.add_argument("run", help="run folder or checkpoint file")
    p.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    p.add_argument("--out", help="arrays to .npy/.csv, or images to a folder (one PNG each)")
    p.add_argument("--grid", metavar="FILE.png", help="images as one PNG grid")
    p.add_argument("--cols", type=int, help="columns of the grid (default: about √n)")
    p.add_argument("--class", type=int, dest="label", metavar="K", help="class to generate (conditional runs)")
    p.add_argument("--seed", type=int, help="seed of the noise (default: drawn and printed)")
    p.add_argument("--truncation", type=float, metavar="T", help="draw every noise entry inside [−T, T]: "
                   "the truncation trick, quality for diversity (default: the run's eval.truncation)")  # fmt: skip

    p = sub.add_parser("interpolate", help="latent walks of a trained image run, to PNG or GIF")
    p.add_argument("run", help="run folder or checkpoint file")
    p.add_argument("--out", required=True, help="walk.png (a row per walk) or walk.gif (animated)")
    p.add_argument("--steps", type=int, default=10, help="points along each walk (default: 10)")
    p.add_argument("--paths", type=int, default=4, help="number of walks (default: 4)")
    p.add_argument("--mode", default="slerp", choices=tuple(WALKS), help="spherical or straight (default: slerp)")
    p.add_argument("--class", type=int, dest="label", metavar="K", help="class of every walk (conditional runs)")
    p.add_argument("--seed", type=int, help="seed of the end points (default: random)")

    p = sub.add_parser(
        "translate", help="translate input images with a trained translation run (pix2pix, cyclegan, stargan)"
    )
    p.add_argument("run", help="run folder or checkpoint file")
    p.add_argument("--input", required=True, metavar="FILE|FOLDER", help="an image, or a folder of images (recursive)")
    p.add_argument("--out", required=True, metavar="FOLDER", help="where the translations go, one PNG per input")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the dropout a model run as in training uses (default 0)"
    )
    p.add_argument(
        "--to",
        metavar="DOMAIN",
        help="the target domain of a multi-domain run: B (cyclegan), dog, or "
        "attributes to set, comma-separated (stargan)",
    )

    p = sub.add_parser("eval", help="recompute a run's measures from its newest checkpoint")
    p.add_argument("run", help="run folder")
    p.add_argument("--n", type=int, help="samples to generate (default: the run's eval.n_samples)")
    p.add_argument("--seed", type=int, help="evaluation seed (default: the run's eval.seed)")
    p.add_argument("--metrics", help="image metrics, comma-separated: fid, kid, is, pr, dc (default: the run's)")
    p.add_argument("--features", choices=("domain", "inception"), help="feature space of the image metrics")
    p.add_argument("--n-real", type=int, help="real images in the reference statistics (default: the run's "
                   "eval.n_real; 0: all, up to 50,000)")  # fmt: skip
    p.add_argument("--inception-resize", choices=("tensorflow", "pytorch"),
                   help="resize in front of the FID Inception (default: the run's eval.inception_resize)")  # fmt: skip
    p.add_argument("--truncation", type=float, metavar="T", help="measure samples whose noise entries lie in "
                   "[−T, T] (the truncation trick; default: the run's eval.truncation)")  # fmt: skip
    p.add_argument("--truncation-sweep", nargs="?", const=",".join(map(str, TRUNCATION_SWEEP)), metavar="T1,T2,…",
                   help="the measures at each truncation, one row each (default values: "
                   f"{', '.join(map(str, TRUNCATION_SWEEP))}); written to RUN/{SWEEP_FILE}")  # fmt: skip

    p = sub.add_parser("report", help="one self-contained HTML page of a run: curves, pictures, measures, config")
    p.add_argument("run", help="run folder")
    p.add_argument("--out", metavar="FILE.html", help="where the page goes (default: RUN/report.html)")

    p = sub.add_parser("compare", help="overlay several runs' curves and tabulate their measures (HTML)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="two or more run folders")
    p.add_argument("--out", metavar="FILE.html", default="compare.html", help="where the page goes "
                   "(default: compare.html)")  # fmt: skip

    p = sub.add_parser("export", help="save a generator as TorchScript, ONNX or pt2 (loads without gankit)")
    p.add_argument("run", help="run folder, checkpoint or generator.safetensors")
    p.add_argument("--format", default="torchscript", choices=("torchscript", "onnx", "pt2"),
                   help="file format (default: torchscript; onnx needs pip install 'gankit[export]')")  # fmt: skip
    p.add_argument("--out", metavar="FILE", help="where to write it (default: generator.pt/.onnx/.pt2 in the run)")
    p.add_argument("--batch", type=int, metavar="N", help="fix the batch size to N (default: any batch size)")


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise GankitError(f"{name} must be >= 1, got {value}")


def cmd_sample(args: argparse.Namespace) -> int:
    if not args.out and not args.grid:
        raise GankitError("sample needs --out (arrays or a folder of images) or --grid (a PNG grid)")
    _positive("--n", args.n)
    _positive("--cols", args.cols)
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix and out.suffix.lower() not in SAMPLE_FORMATS:
        raise GankitError(
            f"--out {out}: unknown format {out.suffix!r} (allowed: {', '.join(SAMPLE_FORMATS)}, or a folder for images)"
        )
    if out is not None and not out.parent.is_dir():
        raise GankitError(f"--out {out}: folder {out.parent} does not exist")
    if out is not None and not out.suffix and out.exists() and not out.is_dir():
        raise GankitError(f"--out {out} is a file; images go to a folder (or give .npy/.csv for arrays)")
    grid = check_output_file(args.grid, "--grid", (".png",)) if args.grid else None
    from . import api
    from .watch import save_grid

    loaded = api.load(args.run)
    seed = args.seed
    if seed is None:  # drawn here, so that it can be said, and the samples repeated
        from .rng import draw_seed

        seed = draw_seed()
        print(f"seed {seed} (pass --seed {seed} to repeat)")
    samples = loaded.sample(args.n, seed, args.label, args.truncation)
    if grid is not None:
        save_grid(loaded.to_images(samples), grid, args.cols or math.ceil(math.sqrt(args.n)))
        print(f"wrote a grid of {args.n} images to {grid}")
    if out is not None and out.suffix:
        write_array(samples.float().cpu().numpy(), out)
        print(f"wrote {len(samples)} samples of shape {tuple(samples.shape[1:])} to {out}")
    elif out is not None:
        count = write_images(loaded.to_images(samples), out)
        print(f"wrote {count} images to {out}/")
    return 0


def write_array(samples: np.ndarray, out: Path) -> None:
    import numpy as np

    from .atomic import atomic_write_bytes

    buffer = io.BytesIO()
    if out.suffix.lower() == ".npy":
        np.save(buffer, samples, allow_pickle=False)
    else:
        np.savetxt(buffer, samples.reshape(len(samples), -1), delimiter=",", fmt="%.7g")
    atomic_write_bytes(out, buffer.getvalue())


def write_images(images: Tensor, folder: Path, names: Sequence[Path] = ()) -> int:
    """One PNG per image in `folder` (created if needed), under `names` or 000000.png, 000001.png…"""
    from .watch import write_picture

    for i, image in enumerate(images.cpu()):
        path = folder / (names[i] if names else f"{i:06d}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_picture(path, [image.permute(1, 2, 0).numpy()])
    return len(images)


def cmd_interpolate(args: argparse.Namespace) -> int:
    out = check_output_file(args.out, "--out", (".png", ".gif"))
    _positive("--steps", args.steps)
    _positive("--paths", args.paths)
    from . import api
    from .watch import save_grid, save_walk_gif

    loaded = api.load(args.run)
    walks = loaded.interpolate(args.steps, args.paths, args.mode, args.seed, args.label)
    images = loaded.to_images(walks.flatten(0, 1)).view(args.paths, args.steps, *walks.shape[2:])
    if out.suffix.lower() == ".png":
        save_grid(images.flatten(0, 1), out, args.steps)
    else:
        save_walk_gif(images, out, loaded.config["eval"]["grid_scale"])
    print(f"wrote {args.paths} {args.mode} walks of {args.steps} steps to {out}")
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    from . import api
    from .data.images import IMAGE_EXTENSIONS, list_images, read_images

    source, out = Path(args.input), Path(args.out)
    if not source.exists():
        raise GankitError(f"--input {source} does not exist (expected an image file or a folder of images)")
    files = list_images(source) if source.is_dir() else [source]
    if not files:
        raise GankitError(f"--input {source} holds no images (allowed extensions: {', '.join(IMAGE_EXTENSIONS)})")
    if out.exists() and not out.is_dir():
        raise GankitError(f"--out {out} is a file; translations go to a folder")
    if not out.parent.is_dir():
        raise GankitError(f"--out {out}: folder {out.parent} does not exist")
    names = [path.relative_to(source).with_suffix(".png") if source.is_dir() else Path(path.stem + ".png")
             for path in files]  # fmt: skip
    taken: dict[Path, Path] = {}
    for name, path in zip(names, files):
        if name in taken:
            raise GankitError(f"--input {taken[name]} and {path} would both be written as {out / name}; "
                              "rename one of them")  # fmt: skip
        taken[name] = path
    loaded = api.load(args.run)
    loaded.require("translation")
    loaded.check_domain(args.to)  # before reading any image
    channels, resolution, _ = loaded.info.input_shape
    for start in range(0, len(files), 16):
        outputs = loaded.translate(read_images(files[start : start + 16], channels, resolution), args.seed, to=args.to)
        write_images(outputs, out, names[start : start + 16])
    print(f"wrote {len(files)} translations to {out}/")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from . import api

    _positive("--n", args.n)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    if args.truncation_sweep is not None:
        return _truncation_sweep(args, metrics)
    result = api.evaluate(args.run, args.n, args.seed, metrics, args.features, args.n_real, args.inception_resize,
                          args.truncation)  # fmt: skip
    print(f"{args.run} at iteration {result['step']} ({result['n_samples']} samples, seed {result['seed']}):")
    for key, value in result["measures"].items():
        print(f"  {key:<18} {value:.6g}" if isinstance(value, float) else f"  {key:<18} {value}")
    if result["protocol"]:
        print(f"  protocol: {json.dumps(result['protocol'], ensure_ascii=False)}")
    return 0


def _truncation_sweep(args: argparse.Namespace, metrics: list[str] | None) -> int:
    """`gankit eval RUN --truncation-sweep`: a row of measures per truncation, kept in RUN."""
    from . import api
    from .run import RunDir

    try:
        values = [float(v) for v in args.truncation_sweep.split(",") if v.strip()]
    except ValueError:
        raise GankitError(f"--truncation-sweep takes numbers in (0, ∞) separated by commas, e.g. 1,0.5,0.25; "
                          f"got {args.truncation_sweep!r}") from None  # fmt: skip
    if args.truncation is not None:
        raise GankitError("give --truncation or --truncation-sweep, not both")
    if Path(args.run).is_file():
        raise GankitError(f"{args.run} is a file; the sweep takes a run folder (it writes {SWEEP_FILE} there)")
    loaded = api.load(args.run)
    rows = loaded.truncation_sweep(values, args.n, args.seed, metrics, features=args.features, n_real=args.n_real,
                                   inception_resize=args.inception_resize)  # fmt: skip
    columns = [k for k, v in rows[0].items() if k != "truncation" and isinstance(v, (int, float))]
    print(f"{args.run} at iteration {loaded.step}: the measures at each truncation")
    names = ["truncation", *columns]
    widths = [max(10, len(name)) for name in names]
    print("  " + "  ".join(f"{name:>{w}}" for name, w in zip(names, widths)))
    for row in rows:
        print("  " + "  ".join(f"{row.get(name, float('nan')):>{w}.6g}" for name, w in zip(names, widths)))
    RunDir(args.run).write_json(SWEEP_FILE, {"step": loaded.step, "rows": rows})
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    print(f"wrote the report of {args.run} to {write_report(args.run, args.out)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_runs

    out, text = compare_runs(args.runs, args.out)
    print(text)
    print(f"wrote the comparison of {len(args.runs)} runs to {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .api import export_generator

    out = export_generator(args.run, args.out, args.format, args.batch)
    print(f"wrote the generator of {args.run} as {args.format} to {out}")
    return 0


RUN_COMMANDS = {
    "sample": cmd_sample,
    "interpolate": cmd_interpolate,
    "translate": cmd_translate,
    "eval": cmd_eval,
    "report": cmd_report,
    "compare": cmd_compare,
    "export": cmd_export,
}
