"""Drift detection: detectors over river's, the signals they watch, scoring.

- :mod:`.detectors`: the :class:`~freshrec.drift.detectors.DriftDetector` protocol and
  :class:`~freshrec.drift.detectors.RiverDetector` (ADWIN, Page-Hinkley, KSWIN), and
  :class:`~freshrec.drift.detectors.HitRateDrop` for the rare hits of top-k lists;
- :mod:`.signals`: streams to watch: a model's per-event error, the popularity shift and the
  new-id rate per window;
- :mod:`.scoring`: detection delay and false alarms against a stream's ground truth.
"""

from __future__ import annotations

from freshrec.drift.detectors import DETECTORS, DriftDetector, HitRateDrop, RiverDetector, alarms
from freshrec.drift.scoring import DetectionScore, score_alarms
from freshrec.drift.signals import error_stream, miss_stream, new_id_rate, popularity_shift

__all__ = [
    "DETECTORS",
    "DetectionScore",
    "DriftDetector",
    "HitRateDrop",
    "RiverDetector",
    "alarms",
    "error_stream",
    "miss_stream",
    "new_id_rate",
    "popularity_shift",
    "score_alarms",
]
