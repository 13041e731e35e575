"""The live system without HTTP: the registry of versions, the guard and the learner.

- :class:`~freshrec.live.registry.Registry`: versions of a model, labels, promote/rollback.
- :class:`~freshrec.live.guard.Guard`: what a candidate must pass before it is promoted.
- :class:`~freshrec.live.learner.Learner`: reads the event log from its checkpoint's cursor,
  learns, checkpoints, publishes candidates and promotes those the guard passes.
- :class:`~freshrec.live.decisions.DecisionLog`: the exploring decisions a service served,
  with their propensities, kept apart from the event log;
  :class:`~freshrec.live.ope_gate.OffPolicyGate` values versions on them for the guard.
"""

from __future__ import annotations

from freshrec.live.decisions import DecisionLog, LoggedRounds, ServedDecision
from freshrec.live.guard import Guard, GuardVerdict
from freshrec.live.ope_gate import OffPolicyGate
from freshrec.live.registry import LABELS, Registry, RegistryError, VersionInfo

__all__ = [
    "LABELS",
    "DecisionLog",
    "Guard",
    "GuardVerdict",
    "LoggedRounds",
    "OffPolicyGate",
    "Registry",
    "RegistryError",
    "ServedDecision",
    "VersionInfo",
]
