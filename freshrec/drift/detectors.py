"""Drift detectors: a small protocol and an adapter over river's detectors.

river (a core dependency) implements ADWIN (Bifet & Gavaldà, 2007), Page-Hinkley (Page,
1954) and KSWIN (Raab et al., 2020); :class:`RiverDetector` gives them one interface and
:func:`alarms` runs one over a whole signal.

Examples
--------
>>> import numpy as np
>>> signal = np.r_[np.zeros(2000), np.ones(2000)] + np.random.default_rng(0).normal(0, 0.3, 4000)
>>> found = alarms(RiverDetector("adwin"), signal)
>>> bool(found[0] >= 2000 and found[0] - 2000 < 200)
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["DETECTORS", "DriftDetector", "RiverDetector", "alarms"]

DETECTORS = {"adwin": "ADWIN", "page-hinkley": "PageHinkley", "kswin": "KSWIN"}


@runtime_checkable
class DriftDetector(Protocol):
    """Reads a stream of numbers one at a time; says when their distribution changed.

    Examples
    --------
    >>> isinstance(RiverDetector("adwin"), DriftDetector)
    True
    """

    def update(self, x: float) -> None:
        """Take the next value."""

    @property
    def drift_detected(self) -> bool:
        """Whether the last :meth:`update` signalled a drift."""


class RiverDetector:
    """One of river's drift detectors by name: ``adwin``, ``page-hinkley`` or ``kswin``.

    ``params`` go to the river class (e.g. ``delta`` of ADWIN, ``threshold`` of
    Page-Hinkley, ``alpha`` of KSWIN).

    Examples
    --------
    >>> detector = RiverDetector("page-hinkley", threshold=20.0)
    >>> detector.update(0.5); detector.drift_detected
    False
    """

    def __init__(self, name: str, **params: Any) -> None:
        if name not in DETECTORS:
            raise ValueError(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}")
        from river import drift  # here, not at the top: importing river takes a second

        self.name = name
        self.params = params
        self._detector = getattr(drift, DETECTORS[name])(**params)

    def update(self, x: float) -> None:
        self._detector.update(float(x))

    @property
    def drift_detected(self) -> bool:
        return bool(self._detector.drift_detected)

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"RiverDetector({self.name!r}{args})"


def alarms(detector: DriftDetector, signal: Iterable[float], *, block: int = 1) -> np.ndarray:
    """Indices of ``signal`` at which ``detector`` signalled a drift.

    With ``block > 1`` the detector reads the means of consecutive blocks of ``block``
    values (a trailing partial block is left out): far less noise per reading, so tighter
    thresholds without false alarms, for a detection granularity of ``block``. An alarm is
    then reported at the last index of its block.

    Examples
    --------
    >>> alarms(RiverDetector("adwin"), np.zeros(100)).tolist()
    []
    >>> signal = np.r_[np.zeros(3000), np.ones(1000)]  # a jump at index 3000
    >>> detector = RiverDetector("page-hinkley", threshold=1.0, delta=0.02, mode="up")
    >>> alarms(detector, signal, block=50).tolist()  # the second block after the jump
    [3099]
    """
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    values = np.asarray(signal, dtype=np.float64)
    if block > 1:
        n = len(values) // block
        values = values[: n * block].reshape(n, block).mean(axis=1)
    found = []
    for index, value in enumerate(values.tolist()):
        detector.update(value)
        if detector.drift_detected:
            found.append(index)
    return (np.asarray(found, dtype=np.int64) + 1) * block - 1
