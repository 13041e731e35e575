"""Detection delay and false alarms of a detector's alarms against the injected drifts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DetectionScore", "score_alarms"]


@dataclass(frozen=True)
class DetectionScore:
    """How a detector did on one stream.

    Attributes
    ----------
    delays
        Per drift, events from its start to the first alarm at or after it (before the
        next drift); ``None`` when it was missed.
    false_alarms
        Alarms not attributed to a drift: before the first drift, or after a drift was
        already detected and before the next one.
    drift_free_events
        Events in which an alarm counts as false (from which a rate per 100k follows).

    Examples
    --------
    >>> score = score_alarms(np.array([50, 1030, 1100]), [1000], n_events=2000)
    >>> score.delays, score.false_alarms, score.drift_free_events  # 1000 before, 969 after
    ((30,), 2, 1969)
    """

    delays: tuple[int | None, ...]
    false_alarms: int
    drift_free_events: int

    @property
    def false_alarms_per_100k(self) -> float:
        return 1e5 * self.false_alarms / max(self.drift_free_events, 1)


def score_alarms(alarms: np.ndarray, drifts: Sequence[int], n_events: int) -> DetectionScore:
    """Attribute each first alarm after a drift to it; count every other alarm as false.

    The drift-free events are those before the first drift plus, for each detected
    drift, those after its detection up to the next drift.

    Examples
    --------
    >>> score_alarms(np.array([120, 900]), [100, 800], n_events=1000).delays
    (20, 100)
    """
    alarms = np.sort(np.asarray(alarms, dtype=np.int64))
    starts = sorted(int(d) for d in drifts)
    ends = [*starts[1:], n_events]
    delays: list[int | None] = []
    false = int((alarms < starts[0]).sum()) if starts else len(alarms)
    free = starts[0] if starts else n_events
    for start, end in zip(starts, ends, strict=True):
        inside = alarms[(alarms >= start) & (alarms < end)]
        if not len(inside):
            delays.append(None)
            continue
        delays.append(int(inside[0] - start))
        false += len(inside) - 1
        free += end - int(inside[0]) - 1
    return DetectionScore(tuple(delays), false, free)
