"""Multi-process training with torch.distributed: set-up from torchrun's environment, and
gradient and buffer averaging.

Gradients are averaged explicitly (one flat all-reduce per optimiser step) instead of wrapping the
networks in DistributedDataParallel: the R1 and path-length penalties need double backward, and
progressive growing leaves layers unused at times, both of which DDP handles poorly. The result is
the same synchronous data-parallel SGD.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessGroup:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device_type: str) -> ProcessGroup:
    """Join the process group torchrun describes in RANK/WORLD_SIZE/LOCAL_RANK, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return ProcessGroup()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        log.info("joined %s process group: rank %d of %d", backend, rank, world_size)
    return ProcessGroup(rank, world_size, local_rank)


def shutdown(group: ProcessGroup) -> None:
    if group.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_parameters(module: torch.nn.Module, group: ProcessGroup) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if group.world_size <= 1:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def average_gradients(params: list[torch.nn.Parameter], group: ProcessGroup) -> None:
    """Average gradients over ranks with one flat all-reduce; missing grads count as zeros."""
    if group.world_size <= 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= group.world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].reshape(p.shape).clone()
        offset += n


def average_tensor(tensor: torch.Tensor, group: ProcessGroup) -> None:
    """In-place mean of a buffer (w_avg, pl_mean) over ranks."""
    if group.world_size <= 1:
        return
    dist.all_reduce(tensor.data)
    tensor.data /= group.world_size


def sum_scalars(values: tuple[float, ...], group: ProcessGroup) -> tuple[float, ...]:
    if group.world_size <= 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return tuple(t.tolist())
