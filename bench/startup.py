"""Start-up of the command line: wall time of `gankit --help`, `presets` and `config` against
`python -c pass`, each a fresh interpreter, measured in one process.

    python bench/startup.py                          # this checkout
    python bench/startup.py --repo /tmp/old --repo .  # two checkouts side by side (before/after)

Runs are interleaved (every command of every checkout once, then again) so that a change in
the machine's load touches all of them alike; the median of --repeats runs is printed with
its ratio to `python -c pass`. Each checkout's commands run with it first on PYTHONPATH; the
installed `gankit` console script is timed too when there is one (it imports whichever
checkout PYTHONPATH names, as `python -m gankit` does).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python -m gankit --help": ["-m", "gankit", "--help"],
    "python -m gankit presets": ["-m", "gankit", "presets"],
    "python -m gankit config --explain train": ["-m", "gankit", "config", "--explain", "train"],
    "python -m gankit config ring": ["-m", "gankit", "config", "ring"],
    "python -m gankit config dcgan": ["-m", "gankit", "config", "dcgan"],
    "python -m gankit config --explain": ["-m", "gankit", "config", "--explain"],
}


def wall_time(argv: list[str], repo: Path) -> float | None:
    """Seconds from start to exit of one fresh process (None when it fails, e.g. an option
    the checkout does not have)."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start if done.returncode == 0 else None


def processor() -> str:
    """The CPU's model name where Linux says it, else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", action="append", type=Path, help="checkout to time (repeatable; default: this one)")
    parser.add_argument("--repeats", type=int, default=7, help="runs of each command (default 7)")
    args = parser.parse_args()
    repos = [r.resolve() for r in args.repo or [ROOT]]
    commands = {name: [sys.executable, *argv] for name, argv in COMMANDS.items()}
    script = Path(sysconfig.get_path("scripts")) / "gankit"
    if script.is_file():
        commands["gankit --help (console script)"] = [sys.executable, str(script), "--help"]
        commands["gankit presets (console script)"] = [sys.executable, str(script), "presets"]

    load = os.getloadavg()[0]
    baseline: list[float] = []
    times: dict[tuple[str, Path], list[float | None]] = {(name, repo): [] for name in commands for repo in repos}
    for _ in range(args.repeats):
        baseline.append(wall_time([sys.executable, "-c", "pass"], ROOT) or float("nan"))
        for name, argv in commands.items():
            for repo in repos:
                times[name, repo].append(wall_time(argv, repo))

    torch = importlib.metadata.version("torch")
    print(f"{processor()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"torch {torch}; load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    print(f"median of {args.repeats} runs, and its ratio to `python -c pass`")
    base = statistics.median(baseline)
    width = max(map(len, commands)) + 2
    print(f"{'':<{width}}" + "".join(f"{str(repo):>28}" for repo in repos))
    print(f"{'python -c pass':<{width}}" + f"{base:>19.3f} s (1.0x)" * len(repos))
    for name in commands:
        cells = []
        for repo in repos:
            runs = [t for t in times[name, repo] if t is not None]
            median = statistics.median(runs) if len(runs) == args.repeats else None
            cells.append(f"{median:>19.3f} s ({median / base:.1f}x)" if median else f"{'(fails)':>28}")
        print(f"{name:<{width}}" + "".join(f"{cell:>28}" for cell in cells))


if __name__ == "__main__":
    main()
