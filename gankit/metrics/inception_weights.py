"""The 2015 FID Inception weights as pytorch-fid (`pt_inception-2015-12-05-6726825d.pth`) and
torch-fidelity (`weights-inception-2015-12-05-6726825d.pth`) save them: a state dict of
torchvision-style names (Conv2d_1a_3x3, Mixed_5b.branch1x1, …). Both are ports of the same
TensorFlow graph as the TorchScript network gankit runs, so their tensors are renamed onto that
network's layers (same order of branches, checked shape by shape) instead of carrying a second
copy of the architecture."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from ..errors import ConfigError

STEM = {"Conv2d_1a_3x3": "conv", "Conv2d_2a_3x3": "conv_1", "Conv2d_2b_3x3": "conv_2", "Conv2d_3b_1x1": "conv_3",
        "Conv2d_4a_3x3": "conv_4"}  # fmt: skip
# each block's convolutions, torchvision name → TorchScript name, in the order the block concatenates them
BLOCK_A = {"branch1x1": "conv", "branch5x5_1": "tower.conv", "branch5x5_2": "tower.conv_1",
           "branch3x3dbl_1": "tower_1.conv", "branch3x3dbl_2": "tower_1.conv_1", "branch3x3dbl_3": "tower_1.conv_2",
           "branch_pool": "tower_2.conv"}  # fmt: skip
BLOCK_B = {"branch3x3": "conv", "branch3x3dbl_1": "tower.conv", "branch3x3dbl_2": "tower.conv_1",
           "branch3x3dbl_3": "tower.conv_2"}  # fmt: skip
BLOCK_C = {"branch1x1": "conv", "branch7x7_1": "tower.conv", "branch7x7_2": "tower.conv_1", "branch7x7_3": "tower.conv_2",
           **{f"branch7x7dbl_{i + 1}": f"tower_1.{name}" for i, name in enumerate(("conv", "conv_1", "conv_2", "conv_3",
                                                                                   "conv_4"))},
           "branch_pool": "tower_2.conv"}  # fmt: skip
BLOCK_D = {"branch3x3_1": "tower.conv", "branch3x3_2": "tower.conv_1",
           **{f"branch7x7x3_{i + 1}": f"tower_1.{name}" for i, name in enumerate(("conv", "conv_1", "conv_2", "conv_3"))}}  # fmt: skip
BLOCK_E = {"branch1x1": "conv", "branch3x3_1": "tower_conv", "branch3x3_2a": "tower_mixed_conv",
           "branch3x3_2b": "tower_mixed_conv_1", "branch3x3dbl_1": "tower_1_conv", "branch3x3dbl_2": "tower_1_conv_1",
           "branch3x3dbl_3a": "tower_1_mixed_conv", "branch3x3dbl_3b": "tower_1_mixed_conv_1",
           "branch_pool": "tower_2_conv"}  # fmt: skip
BLOCKS = {"Mixed_5b": ("mixed", BLOCK_A), "Mixed_5c": ("mixed_1", BLOCK_A), "Mixed_5d": ("mixed_2", BLOCK_A),
          "Mixed_6a": ("mixed_3", BLOCK_B), "Mixed_6b": ("mixed_4", BLOCK_C), "Mixed_6c": ("mixed_5", BLOCK_C),
          "Mixed_6d": ("mixed_6", BLOCK_C), "Mixed_6e": ("mixed_7", BLOCK_C), "Mixed_7a": ("mixed_8", BLOCK_D),
          "Mixed_7b": ("mixed_9", BLOCK_E), "Mixed_7c": ("mixed_10", BLOCK_E)}  # fmt: skip
EPS = 1e-3  # the batch-norm epsilon of both networks


def layer_names() -> dict[str, str]:
    """Every convolution: torchvision-style prefix → TorchScript prefix."""
    names = {stem: f"net.layers.{layer}" for stem, layer in STEM.items()}
    for block, (layer, convolutions) in BLOCKS.items():
        names.update({f"{block}.{conv}": f"net.layers.{layer}.{ours}" for conv, ours in convolutions.items()})
    return names


def is_torchvision_style(state: object) -> bool:
    """Whether a loaded file is pytorch-fid's / torch-fidelity's Inception state dict."""
    return isinstance(state, dict) and all(f"{prefix}.conv.weight" in state for prefix in layer_names())


def renamed_state(state: dict[str, Tensor], target: dict[str, Tensor], path: Path) -> dict[str, Tensor]:
    """The TorchScript network's state dict filled from a torchvision-style one. The TF graph has no
    batch-norm scale γ; a γ other than 1 is folded into the variance, exactly: γ/√(v + ε) = 1/√(v′ + ε)
    with v′ = (v + ε)/γ² − ε. The classifier (fc) is not used by FID and is left out."""
    try:
        renamed = _renamed(state)
    except KeyError as exc:
        raise ConfigError(f"{path}: a torchvision-style Inception state dict without {exc}") from None
    wrong = [f"{name} {tuple(renamed[name].shape) if name in renamed else 'missing'} (expected "
             f"{tuple(target[name].shape)})" for name in target
             if name not in renamed or renamed[name].shape != target[name].shape]  # fmt: skip
    if wrong or len(renamed) != len(target):
        raise ConfigError(f"{path}: its tensors do not fit the FID Inception-v3: {', '.join(wrong[:3]) or 'extra'}")
    return renamed


def _renamed(state: dict[str, Tensor]) -> dict[str, Tensor]:
    renamed: dict[str, Tensor] = {}
    for source, ours in layer_names().items():
        gamma = state[f"{source}.bn.weight"].float() if f"{source}.bn.weight" in state else None
        if gamma is not None and not bool((gamma > 0).all()):
            raise KeyError(f"{source}.bn.weight > 0")
        variance = state[f"{source}.bn.running_var"].float()
        renamed[f"{ours}.weight"] = state[f"{source}.conv.weight"].float()
        renamed[f"{ours}.beta"] = state[f"{source}.bn.bias"].float()
        renamed[f"{ours}.mean"] = state[f"{source}.bn.running_mean"].float()
        renamed[f"{ours}.var"] = variance if gamma is None else (variance + EPS) / gamma.square() - EPS
    return renamed
