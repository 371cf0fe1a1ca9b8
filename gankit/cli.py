"""The `gankit` command: train, presets, config, sample, interpolate, translate, eval, report,
compare, export.

Every user error (bad config, data, path or checkpoint) is one line on stderr and exit
status 2; Ctrl-C during training saves a checkpoint and exits with status 130. Each command
imports what it needs (torch, NumPy, the API) inside its function, so that `--help`, `presets`
and `config --explain` start at once.
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from . import __version__
from .config import resolve
from .console import install_for_process
from .errors import GankitError
from .explain import EXPLAINED, explain
from .group import group_from_environment
from .interpolate import WALKS
from .presets import DEFAULT_PRESET, describe_presets

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

    from .runtime import TrainingInterrupted

log = logging.getLogger("gankit")
SAMPLE_FORMATS = (".npy", ".csv")
EPILOG = (
    "Every setting (a --set KEY=VALUE, or a key of a --config file) is described, with its type, default "
    "and allowed values, by `gankit config --explain [SECTION]`; sections: " + ", ".join(EXPLAINED) + "."
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error: what is wrong, and where to read the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"gankit: error: {message} (see {self.prog} --help)\n")


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "preset", nargs="?", help=f"preset to start from (default: {DEFAULT_PRESET}; see `gankit presets`)"
    )
    parser.add_argument(
        "--config",
        "-c",
        action="append",
        default=[],
        metavar="FILE",
        help="TOML, JSON or YAML file of settings (repeatable; later files win)",
    )
    parser.add_argument(
        "--set",
        "-s",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one setting, e.g. --set train.steps=2000 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="gankit", description="Train, watch, evaluate and sample GANs.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    p = sub.add_parser("train", help="train a GAN (a preset, config files and overrides)", epilog=EPILOG)
    _config_arguments(p)
    p.add_argument("--name", help="run folder name (default: the preset's; taken names get a -2, -3… suffix)")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its newest checkpoint")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    p = sub.add_parser("presets", help="list the presets")
    p.add_argument("--verbose", "-v", action="store_true", help="also print each preset's full config")

    p = sub.add_parser("config", help="print the resolved, validated config as JSON", epilog=EPILOG)
    _config_arguments(p)
    p.add_argument(
        "--explain",
        nargs="?",
        const="",
        metavar="SECTION",
        help="instead, describe every key (of SECTION: " + ", ".join(EXPLAINED) + ")",
    )

    p = sub.add_parser("sample", help="generate samples from a trained run")
    p.add_argument("run", help="run folder or checkpoint file")
    p.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    p.add_argument("--out", help="arrays to .npy/.csv, or images to a folder (one PNG each)")
    p.add_argument("--grid", metavar="FILE.png", help="images as one PNG grid")
    p.add_argument("--cols", type=int, help="columns of the grid (default: about √n)")
    p.add_argument("--class", type=int, dest="label", metavar="K", help="class to generate (conditional runs)")
    p.add_argument("--seed", type=int, help="seed of the noise (default: drawn and printed)")

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
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from . import api
    from .runtime import describe

    progress = not args.quiet and sys.stderr.isatty()
    # quiet=True: this command has its own handler (main) and prints its own summary, to stdout
    if args.resume:
        if args.preset or args.config or args.name:
            raise GankitError("--resume continues a run with its own config; only --set may be added")
        result = api.resume(args.resume, args.overrides, progress=progress, quiet=True)
    else:
        result = api.train(
            args.preset or (None if args.config else DEFAULT_PRESET),
            config_files=args.config,
            overrides=args.overrides,
            runs_dir=args.runs_dir,
            name=args.name,
            progress=progress,
            quiet=True,
        )
    if group_from_environment().main:
        print(describe(result.summary))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    width = max(len(name) for name, _ in describe_presets())
    for name, text in describe_presets():
        mark = " (default)" if name == DEFAULT_PRESET else ""
        print(f"{name:<{width}}  {text}{mark}")
        if args.verbose:
            print(json.dumps(resolve(name), indent=2))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    if args.explain is not None:
        if args.preset or args.config or args.overrides:
            raise GankitError("config --explain describes every key; it takes no preset, --config or --set")
        print(explain(args.explain or None))
        return 0
    preset = args.preset or (None if args.config else DEFAULT_PRESET)
    print(json.dumps(resolve(preset, args.config, args.overrides), indent=2))
    return 0


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise GankitError(f"{name} must be >= 1, got {value}")


def _png_path(option: str, path: Path, suffixes: tuple[str, ...] = (".png",)) -> Path:
    if path.suffix.lower() not in suffixes:
        raise GankitError(f"{option} {path}: unknown format {path.suffix!r} (allowed: {', '.join(suffixes)})")
    if not path.parent.is_dir():
        raise GankitError(f"{option} {path}: folder {path.parent} does not exist")
    return path


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
    grid = _png_path("--grid", Path(args.grid)) if args.grid else None
    from . import api
    from .watch import save_grid

    loaded = api.load(args.run)
    seed = args.seed
    if seed is None:  # drawn here, so that it can be said, and the samples repeated
        from .rng import draw_seed

        seed = draw_seed()
        print(f"seed {seed} (pass --seed {seed} to repeat)")
    samples = loaded.sample(args.n, seed, args.label)
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
    out = _png_path("--out", Path(args.out), (".png", ".gif"))
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
        save_walk_gif(images, out)
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
    result = api.evaluate(args.run, args.n, args.seed, metrics, args.features, args.n_real, args.inception_resize)
    print(f"{args.run} at iteration {result['step']} ({result['n_samples']} samples, seed {result['seed']}):")
    for key, value in result["measures"].items():
        print(f"  {key:<18} {value:.6g}" if isinstance(value, float) else f"  {key:<18} {value}")
    if result["protocol"]:
        print(f"  protocol: {json.dumps(result['protocol'], ensure_ascii=False)}")
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
    from .export import export_generator

    out = export_generator(args.run, args.out, args.format, args.batch)
    print(f"wrote the generator of {args.run} as {args.format} to {out}")
    return 0


COMMANDS = {
    "train": cmd_train,
    "presets": cmd_presets,
    "config": cmd_config,
    "sample": cmd_sample,
    "interpolate": cmd_interpolate,
    "translate": cmd_translate,
    "eval": cmd_eval,
    "report": cmd_report,
    "compare": cmd_compare,
    "export": cmd_export,
}


def _training_interrupted() -> type[TrainingInterrupted]:
    """runtime.TrainingInterrupted, looked up only when an exception gets that far (runtime
    imports torch; an except clause's class is evaluated only then)."""
    from .runtime import TrainingInterrupted

    return TrainingInterrupted


def main(argv: Sequence[str] | None = None) -> int:
    install_for_process()  # under torchrun rank 0 reports
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except GankitError as exc:
        print(f"gankit: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_status", 2)  # TrainingDiverged: 3
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C: nothing half-written is kept
        print("gankit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left early (`gankit config --explain | head`): nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # keeps the flush at exit quiet
        return 1
    except OSError as exc:  # the environment: a full disk, a read-only folder, a path that cannot be written
        print(f"gankit: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("gankit: error: not enough memory for what was asked (fewer samples, a smaller batch or model)",
              file=sys.stderr)  # fmt: skip
        return 2
    except _training_interrupted() as exc:
        if exc.run is not None:  # the process that wrote the checkpoint (rank 0 under torchrun)
            print(f"gankit: {exc} and saved a checkpoint; continue with: gankit train --resume {exc.run}",
                  file=sys.stderr)  # fmt: skip
        return 130


def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system failure: what failed, on which file, and what to do."""
    where = f" ({exc.filename})" if exc.filename else ""
    hint = {
        errno.ENOSPC: "free some space; runs keep their last complete checkpoint and resume with --resume",
        errno.EDQUOT: "free some space; runs keep their last complete checkpoint and resume with --resume",
        errno.EACCES: "the folder is not writable by this user",
        errno.EROFS: "the file system is read-only",
        errno.EPERM: "the operation is not permitted there",
        errno.EISDIR: "that path is a folder",
    }.get(exc.errno or 0, "check the path")
    return f"{exc.strerror or exc}{where}: {hint}"


if __name__ == "__main__":
    sys.exit(main())
