"""Pin the threads of every compute library (BLAS/OpenMP pools, torch, numba) to one count.

Timings compared across strategies or libraries are only fair when each side gets the
same cores, so the commands that time work call :func:`pin_threads` first.
"""

from __future__ import annotations

__all__ = ["pin_threads"]


def pin_threads(n: int) -> None:
    """Limit BLAS/OpenMP pools (threadpoolctl), torch and numba to ``n`` threads.

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> pin_threads(1)
    >>> torch.get_num_threads()
    1
    >>> pin_threads(before)
    """
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]  # first: it resets OpenMP
    torch.set_num_threads(n)
    threadpool_limits(n)
