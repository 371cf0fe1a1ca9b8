"""Data parallelism on PyTorch's own engine: `torchrun` starts one process per device and
DistributedDataParallel reduces the gradients of the networks a player updates.

Every process draws the same global batch of noise, labels and data indices and keeps its own
slice, so N processes with global batch B compute what one process with batch B computes
(the gradients are means over equal slices, averaged across processes). Only rank 0 writes
logs, pictures and checkpoints; every collective has a timeout, and torchrun stops all
processes when one dies.
"""

from __future__ import annotations

import datetime
import logging

import torch
import torch.distributed as dist
from torch import Tensor

from .errors import ConfigError
from .group import SINGLE, Group, group_from_environment  # noqa: F401  (defined where no torch is needed)

log = logging.getLogger("gankit")


def start(group: Group, device: torch.device, timeout_s: float) -> None:
    """Join the process group: NCCL between GPUs, gloo on the CPU; collectives time out."""
    if not group.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s), device_id=device
                            if device.type == "cuda" else None)  # fmt: skip
    log.debug("rank %d of %d joined the %s group", group.rank, group.world, backend)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def check_batch(batch_size: int, group: Group) -> int:
    """The per-process batch for a global `batch_size`; a ConfigError when it does not split evenly."""
    if batch_size % group.world:
        raise ConfigError(
            f"data.batch_size ({batch_size}) is the global batch and must divide evenly among the "
            f"{group.world} processes (e.g. {group.world * max(1, batch_size // group.world)})"
        )
    return batch_size // group.world


def any_process(flag: bool, group: Group, device: torch.device) -> bool:
    """Whether `flag` is true on any process (one small collective)."""
    if not group.distributed:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def mean_across(values: Tensor, group: Group) -> Tensor:
    """The mean of a tensor over the processes (for logged statistics)."""
    if group.distributed:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= group.world
    return values


def gather_rows(rows: Tensor, group: Group) -> Tensor:
    """Every process's rows, concatenated in rank order (equal sizes), on every process."""
    if not group.distributed:
        return rows
    parts = [torch.empty_like(rows) for _ in range(group.world)]
    dist.all_gather(parts, rows.contiguous())
    return torch.cat(parts)


def barrier(group: Group) -> None:
    if group.distributed:
        dist.barrier()


def broadcast_buffers(modules: list[torch.nn.Module], group: Group) -> None:
    """Give every process rank 0's buffers of `modules` (batch-norm statistics a network updated
    from its own slice while frozen, and G's moving average of them), so that every process
    evaluates what rank 0 saves."""
    if not group.distributed:
        return
    for module in modules:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def same_everywhere(value: int, group: Group, device: torch.device) -> bool:
    """Whether every process holds the same integer (two small collectives)."""
    if not group.distributed:
        return True
    low, high = torch.tensor([value], device=device), torch.tensor([value], device=device)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    return int(low.item()) == int(high.item())


def broadcast_text(text: str, group: Group, device: torch.device) -> str:
    """Rank 0's `text` on every process (as bytes in tensors: no pickling)."""
    if not group.distributed:
        return text
    data = torch.tensor(list(text.encode()), dtype=torch.uint8, device=device)
    size = torch.tensor([len(data)], device=device)
    dist.broadcast(size, src=0)
    if not group.main:
        data = torch.empty(int(size.item()), dtype=torch.uint8, device=device)
    dist.broadcast(data, src=0)
    return bytes(data.tolist()).decode()
