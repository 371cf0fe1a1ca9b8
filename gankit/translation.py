"""Translation models: generators that turn an input image into an output image (Pix2Pix…).

A translation model's batches hold "a", the input image, and "x", its target; it samples by
translating input images, is evaluated on the data's held-out pairs (L1, PSNR, SSIM and the
image metrics of outputs against targets), and its grids show input | output | target rows.

How the generator runs at test time is an explicit choice (`test_mode`): "train" keeps dropout
and batch statistics as in training, as the pix2pix paper does (the noise of a conditional GAN
lives in its dropout), "eval" switches them to inference behaviour. Either way translating
leaves the model untouched (running statistics are restored) and, given a seed, is repeatable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .data.images import decode_pixels
from .distributed import SINGLE, Group
from .errors import ConfigError, DataError
from .metrics.images import check_fake_count
from .metrics.paired import paired_measures
from .model_settings import TEST_MODES
from .recipe import GAN, Snapshot


@contextlib.contextmanager
def test_time(network: nn.Module, mode: str, seed: int | None) -> Iterator[None]:
    """Run `network` in `mode` ("train": dropout and batch statistics on, "eval": off) and give
    it back as it was: training flag, every buffer (running statistics, spectral norm's power
    iteration vectors), and the RNG of the CPU and of the network's device (dropout draws from
    them seeded with `seed`, so a translation is repeatable)."""
    buffers = [(buffer, buffer.clone()) for buffer in network.buffers()]
    was_training = network.training
    device = next(network.parameters()).device
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    )
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.default_generator.manual_seed(seed)
            if devices:
                torch.cuda.default_generators[devices[0]].manual_seed(seed)
        network.train(mode == "train")
        try:
            with torch.no_grad():
                yield
        finally:
            network.train(was_training)
            with torch.no_grad():
                for buffer, saved in buffers:
                    buffer.copy_(saved)


def refuse_loss_settings(model: str, loss: dict, applied: tuple[str, ...] = ()) -> None:
    """A ConfigError when the config sets a regulariser (gp, r1, r2, clip) the model does not apply."""
    unused = [k for k in ("gp", "r1", "r2", "clip") if loss[k] and k not in applied]
    if unused:
        raise ConfigError(f"model {model} does not apply loss.{unused[0]}; allowed loss settings: "
                          f"{', '.join(('objective', *applied))}")  # fmt: skip


def check_patch_size(model: str, d_layers: int, h: int, w: int, what: str = "they are") -> None:
    """A ConfigError for images too small for a PatchGAN of `d_layers` (its grid needs ≥ 1 logit,
    SSIM an 11-px window)."""
    smallest = max(16, 3 * 2**d_layers)
    if min(h, w) < smallest:
        raise ConfigError(f"model {model} at model.d_layers = {d_layers} needs images of at least "
                          f"{smallest}×{smallest}; {what} {h}×{w} (raise data.resolution or lower d_layers)")  # fmt: skip


class TranslationGAN(GAN):
    """Base of the models whose generator maps an input image "a" to an output like "x"."""

    kind = "translation"
    batch_keys = ("a", "x")
    evaluates_in_background = False  # test-time dropout reseeds the global generator (translate)

    def __init__(self, nets: Mapping[str, nn.Module], test_mode: str = "train") -> None:
        super().__init__(nets)
        if test_mode not in TEST_MODES:
            raise ValueError(f"test_mode must be one of {', '.join(TEST_MODES)}, got {test_mode!r}")
        self.test_mode = test_mode

    def describe_keys(self) -> str:
        return "a: the input image, x: its target, as paired data gives them (data.target=paired or facades)"

    @torch.no_grad()
    def translate(self, inputs: Tensor, seed: int | None = 0, batch_size: int = 16, to: Any = None) -> Tensor:
        """Outputs for float input images in the data's range, in chunks of `batch_size`; one
        image at a time when batch norm runs on batch statistics ("train" test mode), so that an
        output never depends on which other images were translated with it. A one-way model
        takes no target domain `to`."""
        if to is not None:
            raise DataError(f"{type(self).__name__} translates one way only; it takes no target domain (--to)")
        generator = self.sampling_generator
        with test_time(generator, self.test_mode, seed):
            return torch.cat([generator(chunk) for chunk in inputs.split(self.chunk_size(batch_size))])

    def chunk_size(self, batch_size: int) -> int:
        """Images translated together: one at a time when batch norm runs on batch statistics
        ("train" test mode), so that an output never depends on the images translated with it."""
        uses_batch_statistics = self.test_mode == "train" and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm)
            for name in self.generators
            for m in self.nets[name].modules()
        )
        return 1 if uses_batch_statistics else batch_size

    def translate_images(
        self, images: Tensor, info: Any, seed: int | None = 0, batch_size: int = 16, to: Any = None
    ) -> Tensor:
        """uint8 (or float) N×C×H×W input pictures → uint8 translations (to the domain `to`, for
        the models that have several), checked against the run's input shape."""
        expected = tuple(info.input_shape)
        if images.dim() != 4 or len(images) == 0 or tuple(images.shape[1:]) != expected:
            raise DataError(f"inputs have shape {tuple(images.shape)}; this model translates N×{'×'.join(map(str, expected))} "
                            "images (N ≥ 1; channels, height, width as in training)")  # fmt: skip
        x = decode_pixels(images, info.value_range) if images.dtype == torch.uint8 else images.to(torch.float32)
        return info.to_images(self.translate(x, seed, batch_size, to))

    def check_evaluation(self, target: Any, evaluation: Mapping[str, Any]) -> None:
        """The image metrics need at least MIN_FAKE translations; say so before training."""
        super().check_evaluation(target, evaluation)
        pairs = target.held_out[0] if target.held_out is not None else target.dataset["a"]
        count = min(evaluation["n_samples"], len(pairs))
        if evaluation["metrics"]:
            check_fake_count(count, f"the number of pairs evaluated (eval.n_samples capped by the {len(pairs)} pairs)")

    def held_out_pairs(self, target: Any, n: int) -> tuple[Tensor, Tensor]:
        """Up to `n` decoded (input, target) pairs the model did not train on (the training
        pairs when the data has no held-out split), on the model's device."""
        device = next(self.parameters()).device
        pairs = target.held_out or (target.dataset["a"], target.dataset["x"])
        return tuple(target.decode(t[:n].to(device)) for t in pairs)  # type: ignore[return-value]

    def snapshot(
        self, target: Any, n: int, seed: int, measure: bool = True, image_metrics: Any = None, group: Group = SINGLE
    ) -> Snapshot:
        """Translations of the first `n` held-out inputs, compared with their targets: L1,
        PSNR, SSIM, sharpness, and the image metrics asked for (outputs against targets)."""
        inputs, real = self.held_out_pairs(target, n)
        fake = self.translate(inputs, seed)
        measures: dict[str, float] = {}
        protocol: dict[str, Any] = {}
        if measure and group.main:
            measures = paired_measures(fake, real, target.value_range)
            split = "held-out" if target.held_out is not None else "training (the data has no held-out split)"
            protocol = {"pairs": len(fake), "split": split, "test_mode": self.test_mode, "seed": seed}
            if image_metrics is not None:
                values, image_protocol = image_metrics(target.to_images(fake))
                measures.update(values)
                protocol.update(image_protocol)
        return Snapshot(fake, inputs, real, measures, protocol)

    def grid(self, target: Any, rows: int, cols: int, seed: int) -> tuple[Tensor, int] | None:
        """`rows` held-out pairs, one per row: input | output | target (cols is always 3)."""
        inputs, real = self.held_out_pairs(target, rows)
        fake = self.translate(inputs, seed)
        shown = [target.to_images(t) for t in (inputs_as_output(inputs, fake), fake, real)]
        return torch.stack(shown, 1).flatten(0, 1), 3


def inputs_as_output(inputs: Tensor, fake: Tensor) -> Tensor:
    """Inputs shaped like the outputs for a picture: grey inputs repeated to the output's
    channels (a colour input beside grey outputs is shown by its mean)."""
    if inputs.shape[1] == fake.shape[1]:
        return inputs
    if inputs.shape[1] == 1:
        return inputs.expand(-1, fake.shape[1], -1, -1)
    return inputs.mean(1, keepdim=True).expand(-1, fake.shape[1], -1, -1)
