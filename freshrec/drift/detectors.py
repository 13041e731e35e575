"""Drift detectors: a small protocol, an adapter over river's detectors, a hit-rate test.

river (a core dependency) implements ADWIN (Bifet & Gavaldà, 2007), Page-Hinkley (Page,
1954) and KSWIN (Raab et al., 2020); :class:`RiverDetector` gives them one interface and
:func:`alarms` runs one over a whole signal. They watch absolute changes of a mean, which
the rare hits of top-k recommendation hide (on Amazon Beauty a frozen BPR's hit rate falls
from 1.35% to 0.4% over the replay, a 0.01 rise of the miss rate that none of them flags):
:class:`HitRateDrop` tests the relative fall of the hit rate instead.

Examples
--------
>>> import numpy as np
>>> signal = np.r_[np.zeros(2000), np.ones(2000)] + np.random.default_rng(0).normal(0, 0.3, 4000)
>>> found = alarms(RiverDetector("adwin"), signal)
>>> bool(found[0] >= 2000 and found[0] - 2000 < 200)
True
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["DETECTORS", "DriftDetector", "HitRateDrop", "RiverDetector", "alarms"]

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


class HitRateDrop:
    """Alarms when the hit rate of the latest ``window`` events is significantly below that
    of the first ``reference`` events read since the detector started.

    Reads one value per event: 1 for a miss, 0 for a hit (the
    :func:`~freshrec.drift.signals.miss_stream` of a model, ``block=1``). Once the reference
    is full, each value updates the latest ``window`` and a one-sided two-proportion z-test
    compares the two hit rates; the detector alarms while ``z`` exceeds ``z_alarm``. Start a
    new detector after an update: the reference is then the updated model's hit rate.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> misses = np.r_[rng.random(3000) > 0.03, rng.random(3000) > 0.01].astype(float)
    >>> found = alarms(HitRateDrop(reference=1000, window=1000), misses)
    >>> bool(3000 <= found[0] < 4000)
    True
    >>> len(alarms(HitRateDrop(reference=1000, window=1000), misses[:3000]))
    0
    """

    def __init__(self, reference: int = 5000, window: int = 5000, z_alarm: float = 3.0) -> None:
        if reference < 1 or window < 1:
            raise ValueError(f"reference and window must be >= 1, got {reference}, {window}")
        self.reference = reference
        self.window = window
        self.z_alarm = z_alarm
        self._reference_hits = 0.0
        self._n_reference = 0
        self._latest: deque[float] = deque()
        self._latest_hits = 0.0
        self._detected = False

    def update(self, x: float) -> None:
        hit = 1.0 - float(x)
        if self._n_reference < self.reference:
            self._reference_hits += hit
            self._n_reference += 1
            return
        self._latest.append(hit)
        self._latest_hits += hit
        if len(self._latest) > self.window:
            self._latest_hits -= self._latest.popleft()
        self._detected = len(self._latest) == self.window and self.z() > self.z_alarm

    def z(self) -> float:
        """The test statistic now: how many standard errors the latest hit rate lies below
        the reference's (0 before both are full)."""
        n_ref, n_new = self._n_reference, len(self._latest)
        if n_ref < self.reference or n_new < self.window:
            return 0.0
        pooled = (self._reference_hits + self._latest_hits) / (n_ref + n_new)
        spread = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n_ref + 1.0 / n_new))
        if spread == 0.0:
            return 0.0
        return (self._reference_hits / n_ref - self._latest_hits / n_new) / spread

    @property
    def drift_detected(self) -> bool:
        return self._detected

    def __repr__(self) -> str:
        return (
            f"HitRateDrop(reference={self.reference}, window={self.window}, z_alarm={self.z_alarm})"
        )


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
