"""Checkpoints: one safetensors file per save, tensors in its body, everything else as JSON.

A training state is a nested structure of dicts, lists, numbers, strings and tensors (model
and optimiser state dicts, RNG states, counters). `save` splits it into a JSON skeleton,
stored in the safetensors header, and the tensors it refers to; `load` puts it back together.
Nothing is ever unpickled. Files are written atomically, so a kill leaves the previous
checkpoint intact.

A run's `generator.safetensors` is the other kind of file: the sampling generator's weights
alone, with what rebuilding it needs (config, target, step) as strings in the header
(`save_generator`, `load_generator`); it can be loaded, sampled and exported, not resumed.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import safetensors
import safetensors.torch
import torch
from torch import Tensor

from .atomic import atomic_write_bytes, remove_stale_temporaries
from .errors import CheckpointError
from .version import __version__

if TYPE_CHECKING:
    from .data import TargetInfo
    from .recipe import GAN

FORMAT = "gankit-checkpoint"
GENERATOR_FORMAT = "gankit-generator"
VERSION = 1
log = logging.getLogger("gankit")
NAME = re.compile(r"^ckpt-(\d{8})\.safetensors$")
RANGES = {"minus-one-one": "[-1, 1]", "zero-one": "[0, 1]"}  # a target's value range, as people write it


def flatten(obj: Any, tensors: dict[str, Tensor], path: str = "") -> Any:
    """JSON-able skeleton of `obj`; its tensors are moved into `tensors` under their path."""
    if isinstance(obj, Tensor):
        tensors[path] = obj.detach().to("cpu", copy=True).contiguous()
        return {"__tensor__": path}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and "__tensor__" not in obj and "__items__" not in obj:
            return {k: flatten(v, tensors, f"{path}/{k}") for k, v in obj.items()}
        # optimiser states are keyed by int: keep the key types
        return {"__items__": [[k, flatten(v, tensors, f"{path}/{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [flatten(v, tensors, f"{path}/{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {path or '/'} in a checkpoint")


def unflatten(skeleton: Any, tensors: dict[str, Tensor]) -> Any:
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__items__" in skeleton:
            return {k: unflatten(v, tensors) for k, v in skeleton["__items__"]}
        return {k: unflatten(v, tensors) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten(v, tensors) for v in skeleton]
    return skeleton


Encoded = tuple[dict[str, Tensor], dict[str, str]]  # a state's tensors (on the CPU, copied) and its header


def save(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically as one safetensors file."""
    write(path, encode(state))


def encode(state: dict[str, Any]) -> Encoded:
    """`state`'s tensors copied off their device, and the header that puts them back together:
    all that `write` needs, so training may change the state meanwhile (gankit/writes.py)."""
    tensors: dict[str, Tensor] = {}
    skeleton = flatten(state, tensors)
    return tensors, {"format": FORMAT, "version": str(VERSION), "state": json.dumps(skeleton)}


def write(path: str | Path, encoded: Encoded) -> None:
    """Write an encoded state to `path` atomically."""
    tensors, metadata = encoded
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=metadata))


def load(path: str | Path, device: str | torch.device = "cpu", keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Read a checkpoint written by `save` (only its top-level `keys` if given).

    A CheckpointError names the file when it is missing, damaged or not a gankit checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safetensors.safe_open(str(path), framework="pt", device=str(device)) as f:
            metadata = f.metadata() or {}
            _check_header(path, metadata)
            skeleton = json.loads(metadata["state"])
            if keys is not None:
                skeleton = {k: v for k, v in skeleton.items() if k in keys}
            wanted = _tensor_names(skeleton)
            tensors = {name: f.get_tensor(name) for name in wanted}
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors and json raise their own error types for damaged files
        raise CheckpointError(f"checkpoint {path} is damaged or not a safetensors file ({exc})") from None
    try:
        return unflatten(skeleton, tensors)
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} has a damaged state record ({exc})") from None


def _check_header(path: Path, metadata: dict[str, str]) -> None:
    if metadata.get("format") == GENERATOR_FORMAT:
        raise CheckpointError(f"{path} holds only a generator: it can be loaded, sampled and exported (gankit.load, "
                              "gankit sample, gankit export), not resumed; use the run folder or a checkpoint of "
                              "its checkpoints/")  # fmt: skip
    if metadata.get("format") != FORMAT or "state" not in metadata:
        raise CheckpointError(f"{path} is a safetensors file but not a gankit checkpoint (an older gankit wrote "
                              "generator.safetensors without metadata: load its run folder instead)")  # fmt: skip
    if int(metadata.get("version", 0)) > VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {metadata['version']}; this gankit reads up to {VERSION}"
        )


def generator_header(gan: GAN, config: dict[str, Any], info: TargetInfo, step: int) -> dict[str, Any]:
    """What a generator file says about itself (generator.safetensors' metadata, an export's
    gankit.json): enough to rebuild it, and to feed it without gankit."""
    main = gan.generators[0]
    latent = getattr(gan, "latent", None)  # translation models take images, not noise
    return {
        "gankit_version": __version__,
        "model": config["model"]["name"],
        "generator": f"ema.{main}" if main in gan.ema else main,
        "step": step,
        "latent_dim": latent.dim if latent else None,
        "latent_kind": latent.kind if latent else None,
        "num_classes": getattr(gan, "num_classes", 0),
        "class_names": list(info.class_names),
        "sample_shape": list(info.shape),
        "output_range": RANGES.get(info.value_range or "", "unbounded: the target's coordinates"),
        "config": config,
        "target": info.to_dict(),
    }


def save_generator(path: str | Path, weights: dict[str, Tensor], header: dict[str, Any]) -> None:
    """Write a generator's `weights` with `header` (strings kept, anything else as JSON) atomically."""
    metadata = {"format": GENERATOR_FORMAT, "version": str(VERSION)}
    metadata.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in header.items()})
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in weights.items()}
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=metadata))


def holds_generator_only(path: str | Path) -> bool:
    """Whether `path` is a generator file written by `save_generator` (False for anything else,
    which `load` then judges)."""
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("format") == GENERATOR_FORMAT
    except Exception:  # not a safetensors file at all: `load` says so
        return False


def load_generator(path: str | Path) -> dict[str, Any]:
    """A generator file as a checkpoint's state would hold it: its weights under "gan" and
    the JSON fields of its header (config, target, step…) read back."""
    path = Path(path)
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:  # on the CPU: load() moves the model
            metadata = f.metadata() or {}
            weights = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118  (safe_open is not iterable)
        if int(metadata.get("version", 0)) > VERSION:
            raise CheckpointError(f"generator file {path} has format version {metadata['version']}; this gankit "
                                  f"reads up to {VERSION}")  # fmt: skip
        state = {k: json.loads(metadata[k]) for k in ("config", "target", "step")}
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors and json raise their own error types for damaged files
        raise CheckpointError(f"generator file {path} is damaged ({type(exc).__name__}: {exc})") from None
    return {**state, "gan": weights}


def load_module(module: torch.nn.Module, weights: dict[str, Tensor], source: str) -> None:
    """Load `weights` into `module`, every key present on both sides; else one CheckpointError line."""
    try:
        module.load_state_dict(weights)
    except RuntimeError as exc:  # missing, unexpected or misshapen keys, one per line after a title
        first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise CheckpointError(f"{source} does not match this model and config: {first}") from None


def _tensor_names(skeleton: Any) -> list[str]:
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return [skeleton["__tensor__"]]
        values = [v for _, v in skeleton["__items__"]] if "__items__" in skeleton else skeleton.values()
        return [name for v in values for name in _tensor_names(v)]
    if isinstance(skeleton, list):
        return [name for v in skeleton for name in _tensor_names(v)]
    return []


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"ckpt-{step:08d}.safetensors"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint file in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := NAME.match(p.name))]
    return sorted(found)


def newest_first(folder: Path) -> list[Path]:
    """The checkpoints in `folder`, newest first, after removing half-written temporaries."""
    if folder.is_dir():
        remove_stale_temporaries(folder)
    return [path for _, path in reversed(list_checkpoints(folder))]


def load_latest(folder: Path, device: str | torch.device = "cpu") -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint in `folder` that loads, after removing half-written temporaries."""
    errors = []
    for path in newest_first(folder):
        try:
            state = load(path, device)
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        for error in errors:
            log.warning("skipping %s", error)
        return path, state
    if errors:
        raise CheckpointError(f"no readable checkpoint in {folder}: {errors[0]}")
    return None


def prune(folder: Path, keep: int) -> None:
    """Delete all but the `keep` newest checkpoints."""
    for _, path in list_checkpoints(folder)[:-keep]:
        path.unlink(missing_ok=True)
