"""Image-to-image translation networks: pix2pix's U-Net, CycleGAN's ResNet generator, the PatchGAN critic.

Each is a plain `nn.Module` usable on its own. Layer shapes, widths and bias choices follow the
pix2pix/CycleGAN reference networks, so parameter counts at the reference sizes agree with theirs
(unet_256: 54,413,955; resnet_9blocks: 11,378,179; basic PatchGAN on 6 channels: 2,768,705).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..model_settings import NORMS


def _norm_factory(norm: str) -> Callable[[int], nn.Module]:
    """A function making the named normalisation layer for a channel count."""
    if norm == "batch":
        return lambda channels: nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return lambda channels: nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ConfigError(f"model.norm {norm!r} is not a known normalisation; allowed: {', '.join(NORMS)}")


def _conv_bias(norm: str) -> bool:
    """Whether convolutions followed by this norm need their own bias.

    Batch norm adds a learnt shift of its own, so a bias before it is redundant (the reference drops it).
    Instance norm without affine, or no norm at all, has no shift, so the convolution keeps its bias.
    """
    return norm != "batch"


def _check_dropout(dropout: float) -> None:
    """Reject a dropout probability outside [0, 1): 1 would zero every feature."""
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.dropout {dropout} is out of range; allowed: 0 <= dropout < 1 (0 disables it)")


def _check_positive(**values: int) -> None:
    """Reject channel counts, widths and layer counts below 1, naming the offending setting."""
    for name, value in values.items():
        if value < 1:
            raise ConfigError(f"model.{name} {value} is too small; allowed: integers >= 1")


def unet_depth(resolution: int, depth: int = 0) -> int:
    """The U-Net's number of halvings for this resolution; `depth` 0 means down to a 1×1 bottleneck."""
    if resolution < 4:
        raise ConfigError(f"model.resolution {resolution} is too small for a U-Net; allowed: 4 pixels or more")
    if depth == 0:
        auto = round(math.log2(resolution))
        if 2**auto != resolution:
            fits = (resolution & -resolution).bit_length() - 1  # the largest k with 2^k dividing the resolution
            raise ConfigError(
                f"model.depth 0 (down to 1×1) needs a power-of-two resolution, not {resolution}×{resolution}; "
                f"allowed: resolutions 2^k (or set model.depth between 2 and {fits})"
            )
        return auto
    if depth < 2:
        raise ConfigError(
            f"model.depth {depth} leaves the U-Net no skip connection; allowed: depth >= 2 (0 = automatic)"
        )
    if resolution % 2**depth:
        raise ConfigError(
            f"model.depth {depth} cannot divide {resolution}×{resolution} images: the U-Net halves them {depth} times; "
            f"allowed: resolutions divisible by 2^{depth} = {2**depth} (or set model.depth)"
        )
    return depth


class UNetGenerator(nn.Module):
    """pix2pix's U-Net: stride-2 4×4 down-convolutions, mirrored transposed convolutions, skips by concatenation.

    Level i halves the image and widens it to width·min(2^i, 8) channels; its up-step sees that level's
    features concatenated with the upsampled result from below. At 256 px with depth 0 (= 8) it is
    the reference "unet_256"; dropout sits in the 8w-wide up-steps next to the innermost one.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        resolution: int,
        width: int = 64,
        depth: int = 0,
        norm: str = "batch",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, out_channels=out_channels, width=width)
        _check_dropout(dropout)
        make_norm, bias = _norm_factory(norm), _conv_bias(norm)
        self.depth = depth = unet_depth(resolution, depth)
        self.resolution = resolution
        widths = [width * min(2**i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for i, wide in enumerate(widths):
            innermost = i == depth - 1
            before = in_channels if i == 0 else widths[i - 1]
            step: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            step.append(nn.Conv2d(before, wide, 4, stride=2, padding=1, bias=bias))
            if 0 < i < depth - 1:
                step.append(make_norm(wide))
            self.down.append(nn.Sequential(*step))

            seen = wide if innermost else 2 * wide  # the innermost step has no skip to concatenate
            if i == 0:
                up: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(seen, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                up = [nn.ReLU(), nn.ConvTranspose2d(seen, before, 4, 2, 1, bias=bias), make_norm(before)]
                if dropout > 0 and not innermost and before == wide == 8 * width:
                    up.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*up))

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for step in self.down:
            x = step(x)
            skips.append(x)
        x = self.up[-1](skips[-1])
        for i in range(self.depth - 2, -1, -1):
            x = self.up[i](torch.cat([skips[i], x], dim=1))
        return x


class ResidualBlock(nn.Module):
    """x + F(x), F being two reflection-padded 3×3 convolutions with norm, a ReLU and optional dropout between."""

    def __init__(self, channels: int, norm: str = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        make_norm, bias = _norm_factory(norm), _conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(channels),
            nn.ReLU(),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), make_norm(channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResNetTranslator(nn.Module):
    """CycleGAN's generator: a 7×7 stem, two stride-2 downsamplings, residual blocks, two upsamplings, a 7×7 head.

    Keeps the spatial size of inputs divisible by 4. `blocks` 9 is the reference "resnet_9blocks"
    (meant for 256 px), 6 is "resnet_6blocks" (128 px).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int = 64,
        blocks: int = 9,
        norm: str = "instance",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, out_channels=out_channels, width=width)
        _check_dropout(dropout)
        if blocks < 0:
            raise ConfigError(f"model.blocks {blocks} is negative; allowed: integers >= 0")
        make_norm, bias = _norm_factory(norm), _conv_bias(norm)
        self.stem = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7, bias=bias), make_norm(width), nn.ReLU()
        )
        down: list[nn.Module] = []
        for mult in (1, 2):
            down += [nn.Conv2d(width * mult, width * mult * 2, 3, 2, 1, bias=bias), make_norm(width * mult * 2)]
            down.append(nn.ReLU())
        self.down = nn.Sequential(*down)
        self.blocks = nn.Sequential(*(ResidualBlock(4 * width, norm, dropout) for _ in range(blocks)))
        up: list[nn.Module] = []
        for mult in (4, 2):
            up.append(nn.ConvTranspose2d(width * mult, width * mult // 2, 3, 2, 1, output_padding=1, bias=bias))
            up += [make_norm(width * mult // 2), nn.ReLU()]
        self.up = nn.Sequential(*up)
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh())

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.up(self.blocks(self.down(self.stem(x)))))


class PatchDiscriminator(nn.Module):
    """The "basic" PatchGAN: a grid of real/fake logits, each judging one overlapping input patch.

    With `layers` 3 every logit sees a 70×70 patch, and a 256 px input gives a 30×30 grid.
    The output is raw logits (N×1×H'×W'); the loss applies any sigmoid.
    """

    def __init__(self, in_channels: int, width: int = 64, layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, width=width, layers=layers)
        make_norm, bias = _norm_factory(norm), _conv_bias(norm)
        seq: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        wide = width
        for n in range(1, layers + 1):
            stride = 2 if n < layers else 1  # the last widening convolution keeps the size
            nxt = width * min(2**n, 8)
            seq += [nn.Conv2d(wide, nxt, 4, stride, 1, bias=bias), make_norm(nxt), nn.LeakyReLU(0.2)]
            wide = nxt
        seq.append(nn.Conv2d(wide, 1, 4, 1, 1))
        self.model = nn.Sequential(*seq)

    @property
    def receptive_field(self) -> int:
        """Side in input pixels of the patch one output logit depends on, from the convolutions' kernels and strides."""
        field = 1
        for layer in reversed([m for m in self.model if isinstance(m, nn.Conv2d)]):
            field = (field - 1) * layer.stride[0] + layer.kernel_size[0]
        return field

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """pix2pix's "normal" initialisation: conv and linear weights N(0, std), batch-norm scales N(1, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, std)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)


__all__ = [
    "NORMS",
    "PatchDiscriminator",
    "ResNetTranslator",
    "ResidualBlock",
    "UNetGenerator",
    "init_normal",
    "unet_depth",
]
