"""Data-parallel training of the torch models under ``torchrun`` (gloo on CPU, nccl on GPU).

Every process holds the whole model and walks through the same shuffled mini-batches (all
randomness comes from the model's seeded RNG, identical on every rank); each takes its share
of every mini-batch (:func:`shard`), and :func:`~freshrec.models.torch.nn.train_step` averages the
gradients over the processes before each optimizer step, so all replicas stay identical
and the run equals a one-process run with the same ``batch_size`` up to floating-point
noise. Run a script that fits a model inside :func:`distributed` with
``torchrun --nproc_per_node=N script.py``; save from rank 0 only.

Examples
--------
>>> world()  # outside torchrun: one process
(0, 1)
>>> shard(torch.arange(5)).tolist()
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["average_gradients", "distributed", "mean_over_processes", "shard", "world"]


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` without a process group.

    Examples
    --------
    >>> rank, size = world()
    >>> 0 <= rank < size
    True
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(rows: torch.Tensor) -> torch.Tensor:
    """This process's share of a mini-batch: every ``world_size``-th row from its rank.

    Examples
    --------
    >>> shard(torch.tensor([4, 5, 6])).tolist()  # one process keeps every row
    [4, 5, 6]
    """
    rank, size = world()
    return rows[rank::size] if size > 1 else rows


def average_gradients(module: nn.Module) -> None:
    """Replace each parameter's gradient by its mean over the processes (no-op alone).

    A parameter without a gradient on this process takes part with zeros, so every process
    makes the same collective calls.

    Examples
    --------
    >>> layer = torch.nn.Linear(2, 1)
    >>> layer(torch.ones(1, 2)).sum().backward()
    >>> average_gradients(layer)  # one process: unchanged
    >>> layer.weight.grad.tolist()
    [[1.0, 1.0]]
    """
    _, size = world()
    if size == 1:
        return
    for param in module.parameters():
        if not param.requires_grad:
            continue
        if param.grad is None:
            param.grad = torch.zeros_like(param)
        dist.all_reduce(param.grad, op=dist.ReduceOp.SUM)
        param.grad /= size


def mean_over_processes(value: float) -> float:
    """The mean of ``value`` over the processes (``value`` itself alone).

    Examples
    --------
    >>> mean_over_processes(0.5)
    0.5
    """
    _, size = world()
    if size == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor.item()) / size


@contextmanager
def distributed(backend: str | None = None) -> Iterator[tuple[int, int]]:
    """Join the process group that ``torchrun`` describes in the environment, for the block.

    Yields ``(rank, world_size)``. Outside ``torchrun`` (no ``WORLD_SIZE``, or 1) it does
    nothing and yields ``(0, 1)``. ``backend`` defaults to ``"nccl"`` when CUDA is present,
    else ``"gloo"``; on GPU each process uses device ``cuda:LOCAL_RANK``. The group is
    destroyed, with its backend's threads, when the block ends.

    Examples
    --------
    >>> with distributed() as (rank, size):
    ...     print(rank, size)
    0 1
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or (dist.is_available() and dist.is_initialized()):
        yield world()
        return
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    # torch.distributed.nn binds the current default group as default arguments of its
    # functions when first imported, and torch imports it lazily (the first optimizer
    # imports torch._dynamo, which imports it): imported inside the block, it would keep the
    # group, with gloo's threads, alive past destroy_process_group until interpreter
    # shutdown, whose teardown of those threads may abort the process ("terminate called
    # without an active exception"). Imported before the group exists, it binds None.
    importlib.import_module("torch.distributed.nn")
    dist.init_process_group(backend=backend)
    try:
        yield world()
    finally:
        dist.destroy_process_group()
