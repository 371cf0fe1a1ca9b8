"""Export a run's sampling generator as one file that loads without gankit: TorchScript, ONNX or pt2.

The file holds `SamplingModule`: noise (N×latent_dim float32), and class ids (N int64) for a
class-conditional model, in; samples out (N×C×H×W images in the target's value range, or N×D
points in the toy target's coordinates), computed as `gankit.load(run).sample` computes them,
from the EMA generator where the run keeps one. What a user needs to feed it (latent size and
distribution, classes, output shape and range) travels inside the file as JSON (`gankit.json`).
Every export is loaded back and checked against the generator before it is written.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from .arguments import check_count, check_output_file
from .atomic import atomic_write_bytes
from .checkpoint import generator_header
from .errors import RunError

if TYPE_CHECKING:
    from .data import TargetInfo
    from .recipe import GAN

log = logging.getLogger("gankit")
FORMATS = {"torchscript": ".pt", "onnx": ".onnx", "pt2": ".pt2"}  # format → default file suffix
METADATA = "gankit.json"  # the extra file (TorchScript, pt2) or metadata key (ONNX) describing the generator
EXAMPLE_BATCH = 4  # batch size traced when the file takes any batch size (torch.export specialises 1)
ONNX_PACKAGES = ("onnx", "onnxscript")  # what torch.onnx.export needs (onnxruntime only checks the file)


class SamplingModule(nn.Module):
    """Noise (and class ids) → samples: the generator called as the model's sampling path calls it."""

    def __init__(self, generator: nn.Module, run_generator: Callable[[nn.Module, Tensor, Tensor | None], Tensor]):
        super().__init__()
        self.generator = generator
        self.run_generator = run_generator

    def forward(self, noise: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.run_generator(self.generator, noise, labels)


def check_format(format: str) -> str:
    """`format` if gankit can export to it here; else one RunError line saying what to do."""
    if format not in FORMATS:
        raise RunError(f"unknown export format {format!r} (allowed: {', '.join(FORMATS)})")
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if format == "onnx" and missing:
        raise RunError(f"ONNX export needs the {' and '.join(missing)} package{'s' * (len(missing) > 1)}: "
                       "pip install 'gankit[export]'")  # fmt: skip
    return format


def default_output(run: str | Path, format: str) -> Path:
    """generator.pt / .onnx / .pt2 in the run folder (beside the file when given a file)."""
    run = Path(run)
    return (run if run.is_dir() else run.parent) / f"generator{FORMATS[format]}"


def check_request(run: str | Path | None, out: str | Path | None, format: str, batch: int | None) -> Path:
    """The file an export will write, once `format`, `batch` and `out` are known to work (checked
    before anything is loaded); `run` gives the default `out`, and is None for a loaded run."""
    check_format(format)
    if batch is not None:
        check_count("batch", batch)
    if out is None:
        if run is None:
            raise RunError("export of a loaded run needs an output file (out=…)")
        out = default_output(run, format)
    return check_output_file(out, "output")


def write_export(
    gan: GAN, config: dict[str, Any], info: TargetInfo, step: int, out: Path, format: str, batch: int | None
) -> Path:
    """Write the sampling generator of `gan` to `out` (see check_request) as `format`, taking
    exactly `batch` samples per call (pt2, ONNX; TorchScript is traced at it) or, without, any
    number; the file is loaded back and checked against the generator first. Returns `out`."""
    module = sampling_module(gan)
    header = {**generator_header(gan, config, info, step), "format": format,
              "inputs": ["noise", "labels"] if getattr(gan, "num_classes", 0) else ["noise"], "batch": batch}  # fmt: skip
    example = example_inputs(gan, batch or EXAMPLE_BATCH, seed=0)
    with torch.no_grad():
        data = EXPORTERS[format](module, example, batch is None, json.dumps(header))
        check_export(format, data, module, gan, example, batch is None)
    atomic_write_bytes(out, data)
    log.info("%s takes %s", out, contract(header))
    return out


NOISE = {"normal": "N(0, 1)", "uniform": "uniform in [0, 1)", "uniform-symmetric": "uniform in [-1, 1)"}


def contract(header: dict[str, Any]) -> str:
    """What an exported file takes and gives, in one line: inputs, their distribution, output shape and range."""
    n = header["batch"] or "N"
    inputs = f"noise {n}×{header['latent_dim']} float32 drawn {NOISE.get(header['latent_kind'], header['latent_kind'])}"
    if header["num_classes"]:
        inputs += f" and labels {n} int64 in 0–{header['num_classes'] - 1}"
    shape = "×".join(str(d) for d in [n, *header["sample_shape"]])
    return f"{inputs}; gives samples {shape} float32, {header['output_range']}"


def sampling_module(gan: GAN) -> SamplingModule:
    """The sampling generator on the CPU, in eval mode, as a module of its own (the run's model is left as it is)."""
    generator = copy.deepcopy(gan.sampling_generator).to("cpu").eval().requires_grad_(False)
    return SamplingModule(generator, gan.run_generator).eval()


def example_inputs(gan: GAN, n: int, seed: int) -> tuple[Tensor, ...]:
    """Noise from the model's latent distribution, and class ids 0, 1, 2… for a conditional model."""
    noise = gan.latent.sample(n, torch.Generator().manual_seed(seed))
    classes = getattr(gan, "num_classes", 0)
    return (noise, torch.arange(n) % classes) if classes else (noise,)


def batch_shapes(example: tuple[Tensor, ...], any_batch: bool) -> tuple[dict[int, Any], ...] | None:
    """torch.export's dynamic shapes: the first dimension of every input free, or None (all fixed)."""
    if not any_batch:
        return None
    batch = torch.export.Dim("batch", min=1)
    return tuple({0: batch} for _ in example)


def input_names(example: tuple[Tensor, ...]) -> list[str]:
    return ["noise", "labels"][: len(example)]


def to_torchscript(module: nn.Module, example: tuple[Tensor, ...], any_batch: bool, header: str) -> bytes:
    # silenced: the tracer's notes on the branch it takes, and PyTorch's deprecation of TorchScript
    # (asked for by name here; pt2 is its successor, see docs/export.md)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(module, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={METADATA: header})
    return buffer.getvalue()


def to_pt2(module: nn.Module, example: tuple[Tensor, ...], any_batch: bool, header: str) -> bytes:
    try:
        program = torch.export.export(module, example, dynamic_shapes=batch_shapes(example, any_batch))
    except Exception as exc:  # torch.export's own error types: the generator does something it cannot capture
        raise export_failure("pt2", exc, any_batch) from None
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={METADATA: header})
    return buffer.getvalue()


def to_onnx(module: nn.Module, example: tuple[Tensor, ...], any_batch: bool, header: str) -> bytes:
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)  # its notes on optional operator sets (torchvision's) are not for the user
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, example, dynamo=True, dynamic_shapes=batch_shapes(example, any_batch),
                                        input_names=input_names(example), output_names=["samples"],
                                        external_data=False, verbose=False)  # fmt: skip
    except Exception as exc:
        raise export_failure("onnx", exc, any_batch) from None
    finally:
        onnx_log.setLevel(level)
    model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA, header
    return model.SerializeToString()


EXPORTERS = {"torchscript": to_torchscript, "onnx": to_onnx, "pt2": to_pt2}


def export_failure(format: str, exc: Exception, any_batch: bool) -> RunError:
    """One line for an exporter's failure, with the first line of its reason."""
    reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    hint = "; a fixed batch size may help (--batch N)" if any_batch else ""
    return RunError(f"this generator cannot be exported to {format}: {reason}{hint}")


def reload(format: str, data: bytes) -> Callable[..., Tensor] | None:
    """The exported file read back as a callable, as a user would load it (None: ONNX without onnxruntime)."""
    if format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(io.BytesIO(data))
    if format == "pt2":
        return torch.export.load(io.BytesIO(data)).module()
    if importlib.util.find_spec("onnxruntime") is None:
        log.info("the ONNX file was not run back (onnxruntime is not installed: pip install 'gankit[export]')")
        return None
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda *inputs: torch.from_numpy(session.run(None, dict(zip(names, (x.numpy() for x in inputs))))[0])


def check_export(
    format: str, data: bytes, module: nn.Module, gan: GAN, example: tuple[Tensor, ...], any_batch: bool
) -> None:
    """A RunError unless the exported file gives the generator's samples for the example inputs
    and, when it takes any batch size, for a batch of another size."""
    exported = reload(format, data)
    if exported is None:
        return
    cases = [example, example_inputs(gan, len(example[0]) + 3, seed=1)] if any_batch else [example]
    for inputs in cases:
        expected = module(*inputs)
        try:
            got = exported(*inputs)
        except Exception as exc:
            raise export_failure(format, exc, any_batch) from None
        if got.shape != expected.shape or not torch.allclose(got, expected, rtol=1e-4, atol=1e-5):
            difference = (got - expected).abs().max().item() if got.shape == expected.shape else "shape"
            raise RunError(f"the {format} export does not reproduce the generator's samples for a batch of "
                           f"{len(inputs[0])} (largest difference: {difference}); please report this")  # fmt: skip
