"""Training precision: float32, or bf16 autocast with the loss kept in float32.

Under ``precision="bf16"`` a sequential model's encoder runs in ``torch.autocast`` with
``bfloat16`` (matrix products and attention in bf16; parameters, optimizer state and
reductions stay float32), and the loss is computed in float32 from the encoder's output.
The gain depends on the hardware: Intel CPUs with AMX (``amx_bf16``) and recent GPUs run bf16
products several times faster than float32; AVX-512 BF16 CPUs (AMD Zen 4) less so; others
emulate it. :func:`bf16_support` says which this machine has, for a benchmark to report.

Examples
--------
>>> check_precision("bf16")
>>> with training_autocast("bf16", torch.device("cpu")):
...     product = torch.ones(2, 3) @ torch.ones(3, 2)
>>> product.dtype
torch.bfloat16
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

__all__ = ["PRECISIONS", "bf16_support", "check_precision", "training_autocast"]

PRECISIONS = ("float32", "bf16")


def check_precision(precision: str) -> None:
    """Raise ``ValueError`` unless ``precision`` is one of :data:`PRECISIONS`.

    Examples
    --------
    >>> check_precision("fp8")
    Traceback (most recent call last):
    ...
    ValueError: precision must be one of ('float32', 'bf16'), got 'fp8'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


def training_autocast(
    precision: str, device: torch.device
) -> contextlib.AbstractContextManager[object]:
    """The autocast context of a training step at ``precision`` on ``device``.

    Examples
    --------
    >>> with training_autocast("float32", torch.device("cpu")):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.float32
    """
    check_precision(precision)
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def bf16_support(device: torch.device | None = None) -> str:
    """How this machine runs bf16 products: ``"cuda"``, ``"amx"``, ``"avx512_bf16"`` or
    ``"emulated"`` (read from ``/proc/cpuinfo``; ``"unknown"`` where it cannot be read).

    Examples
    --------
    >>> bf16_support(torch.device("cpu")) in ("amx", "avx512_bf16", "emulated", "unknown")
    True
    """
    if device is not None and device.type == "cuda":
        return "cuda" if torch.cuda.is_bf16_supported() else "emulated"
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return "unknown"
    flags: set[str] = set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if "amx_bf16" in flags:
        return "amx"
    return "avx512_bf16" if "avx512_bf16" in flags else "emulated"
