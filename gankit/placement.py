"""Where a model's networks live and how they run: channels-last memory, torch.compile, and
the DistributedDataParallel wrappers of data-parallel training."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .distributed import Group
from .distributed import start as start_group
from .errors import ConfigError
from .recipe import GAN

log = logging.getLogger("gankit")


def speed_up(gan: GAN, train: dict[str, Any]) -> None:
    """Channels-last memory and torch.compile, as the config asks (before DDP wraps them)."""
    if train["channels_last"]:
        gan.to(memory_format=torch.channels_last)  # 4-D weights only; others unchanged
    if train["compile"]:
        twice = gan.twice_differentiated()
        for name, net in gan.nets.items():
            if name in twice:
                log.warning("not compiling %s: its gradient penalty needs a double backward, which "
                            "compiled graphs do not support", name)  # fmt: skip
            else:
                net.compile()


def distribute(gan: GAN, config: dict[str, Any], group: Group, device: torch.device) -> None:
    """Join the process group and wrap every trainable network in DistributedDataParallel."""
    if not group.distributed:
        return
    if config["eval"]["n_samples"] % group.world:
        raise ConfigError(f"eval.n_samples ({config['eval']['n_samples']}) must divide evenly among the "
                          f"{group.world} processes")  # fmt: skip
    if config["train"]["sync_batchnorm"] and device.type != "cuda":
        raise ConfigError("train.sync_batchnorm needs CUDA devices (PyTorch's SyncBatchNorm has no CPU version)")
    start_group(group, device, config["train"]["dist_timeout"])
    wrappers = {}
    for name, net in gan.nets.items():
        if config["train"]["sync_batchnorm"]:
            net = gan.nets[name] = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        if any(p.requires_grad for p in net.parameters()):
            ids = [device.index] if device.type == "cuda" else None
            wrappers[name] = DistributedDataParallel(net, device_ids=ids)
    gan.distribute(group, wrappers)
