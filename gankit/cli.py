"""The `gankit` command: train, presets and config here; sample, interpolate, translate, eval,
report, compare and export (the commands that use a trained run) in gankit/cli_runs.py.

Every user error (bad config, data, path or checkpoint) is one line on stderr and exit
status 2; Ctrl-C during training saves a checkpoint and exits with status 130. Each command
imports what it needs (torch, NumPy, the API) inside its function, so that `--help`, `presets`
and `config --explain` start at once.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from .cli_runs import RUN_COMMANDS, add_run_commands
from .config import resolve
from .console import install_for_process
from .errors import GankitError
from .explain import EXPLAINED, explain
from .group import group_from_environment
from .presets import DEFAULT_PRESET, describe_presets
from .version import __version__

if TYPE_CHECKING:
    from .runtime import TrainingInterrupted

log = logging.getLogger("gankit")
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

    p = sub.add_parser("study", help="train a preset over several seeds (and a grid of settings) as one program",
                       epilog=EPILOG)  # fmt: skip
    _config_arguments(p)
    p.add_argument("--seeds", type=int, help="members per setting, seeds 0…N−1 (default: 10)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="a setting to vary, e.g. --grid optim.D.lr=1e-4,3e-4 (repeatable: every combination)")  # fmt: skip
    p.add_argument("--strict", action="store_true", help="refuse settings whose members cannot be batched")
    p.add_argument("--name", help="study folder name (default: PRESET-study; taken names get a suffix)")
    p.add_argument("--runs-dir", help="where the study folder goes (default: runs)")
    p.add_argument("--resume", metavar="STUDY", help="continue the study in folder STUDY")
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

    add_run_commands(sub)
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


def cmd_study(args: argparse.Namespace) -> int:
    from .studies import resume_study, study

    progress = not args.quiet and sys.stderr.isatty()
    if args.resume:
        given = [args.preset, args.config, args.overrides, args.grid, args.name, args.seeds, args.strict, args.runs_dir]
        if any(x not in (None, [], False) for x in given):
            raise GankitError("--resume continues a study as it was planned; it takes no preset, --config, --set, "
                              "--grid, --seeds, --strict, --name or --runs-dir")  # fmt: skip
        result = resume_study(args.resume, progress=progress, quiet=True)
    else:
        result = study(args.preset or (None if args.config else DEFAULT_PRESET), seeds=10 if args.seeds is None else args.seeds,
                             grid=args.grid, overrides=args.overrides, config_files=args.config,
                             runs_dir=args.runs_dir or "runs", name=args.name, strict=args.strict, progress=progress,
                             quiet=True)  # fmt: skip
    print(f"Study {result.study_dir} (mean ± standard deviation [min, max]; study.md and study.png there):")
    print(result.table())
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


COMMANDS = {
    "train": cmd_train,
    "study": cmd_study,
    "presets": cmd_presets,
    "config": cmd_config,
    **RUN_COMMANDS,
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
            print(f"gankit: {exc} and saved a checkpoint; continue with: {exc.resume}", file=sys.stderr)
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
