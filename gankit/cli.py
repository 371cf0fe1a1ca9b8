"""The `gankit` command: train, presets, config, sample, eval.

Every user error (bad config, data, path or checkpoint) is one line on stderr and exit
status 2; Ctrl-C during training saves a checkpoint and exits with status 130.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from . import __version__, api
from .atomic import atomic_write_bytes
from .config import resolve
from .engine import TrainingInterrupted, describe
from .errors import GankitError
from .presets import DEFAULT_PRESET, describe_presets

log = logging.getLogger("gankit")
SAMPLE_FORMATS = (".npy", ".csv")


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
    parser = ArgumentParser(prog="gankit", description="Train, watch, evaluate and sample GANs.")
    parser.add_argument("--version", action="version", version=f"gankit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    p = sub.add_parser("train", help="train a GAN (a preset, config files and overrides)")
    _config_arguments(p)
    p.add_argument("--name", help="run folder name (default: the preset's; taken names get a -2, -3… suffix)")
    p.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its newest checkpoint")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    p = sub.add_parser("presets", help="list the presets")
    p.add_argument("--verbose", "-v", action="store_true", help="also print each preset's full config")

    p = sub.add_parser("config", help="print the resolved, validated config as JSON")
    _config_arguments(p)

    p = sub.add_parser("sample", help="generate samples from a trained run")
    p.add_argument("run", help="run folder or checkpoint file")
    p.add_argument("--n", type=int, default=1000, help="number of samples (default: 1000)")
    p.add_argument("--out", required=True, help="output file: .npy or .csv")
    p.add_argument("--seed", type=int, help="seed of the noise (default: random)")

    p = sub.add_parser("eval", help="recompute a run's measures from its newest checkpoint")
    p.add_argument("run", help="run folder")
    p.add_argument("--n", type=int, help="samples to generate (default: the run's eval.n_samples)")
    p.add_argument("--seed", type=int, help="evaluation seed (default: the run's eval.seed)")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    progress = not args.quiet and sys.stderr.isatty()
    if args.resume:
        if args.preset or args.config or args.name:
            raise GankitError("--resume continues a run with its own config; only --set may be added")
        result = api.resume(args.resume, args.overrides, progress=progress)
    else:
        result = api.train(
            args.preset or (None if args.config else DEFAULT_PRESET),
            config_files=args.config,
            overrides=args.overrides,
            runs_dir=args.runs_dir,
            name=args.name,
            progress=progress,
        )
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
    preset = args.preset or (None if args.config else DEFAULT_PRESET)
    print(json.dumps(resolve(preset, args.config, args.overrides), indent=2))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in SAMPLE_FORMATS:
        raise GankitError(f"--out {out}: unknown format {out.suffix!r} (allowed: {', '.join(SAMPLE_FORMATS)})")
    if not out.parent.is_dir():
        raise GankitError(f"--out {out}: folder {out.parent} does not exist")
    if args.n < 1:
        raise GankitError(f"--n must be >= 1, got {args.n}")
    samples = api.load(args.run).sample(args.n, args.seed).float().cpu().numpy()
    buffer = io.BytesIO()
    if out.suffix.lower() == ".npy":
        np.save(buffer, samples, allow_pickle=False)
    else:
        np.savetxt(buffer, samples.reshape(len(samples), -1), delimiter=",", fmt="%.7g")
    atomic_write_bytes(out, buffer.getvalue())
    print(f"wrote {len(samples)} samples of shape {tuple(samples.shape[1:])} to {out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.n is not None and args.n < 1:
        raise GankitError(f"--n must be >= 1, got {args.n}")
    result = api.evaluate(args.run, args.n, args.seed)
    print(f"{args.run} at iteration {result['step']} ({result['n_samples']} samples, seed {result['seed']}):")
    for key, value in result["measures"].items():
        print(f"  {key:<14} {value:.6g}" if isinstance(value, float) else f"  {key:<14} {value}")
    return 0


COMMANDS = {"train": cmd_train, "presets": cmd_presets, "config": cmd_config, "sample": cmd_sample, "eval": cmd_eval}


def main(argv: Sequence[str] | None = None) -> int:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("gankit: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except GankitError as exc:
        print(f"gankit: error: {exc}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        where = f"; continue with: gankit train --resume {exc.run}" if exc.run else ""
        print(f"gankit: {exc} and saved a checkpoint{where}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
