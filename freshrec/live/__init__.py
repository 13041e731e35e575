"""The live system without HTTP: the registry of versions, the guard and the learner.

- :class:`~freshrec.live.registry.Registry`: versions of a model, labels, promote/rollback.
- :class:`~freshrec.live.guard.Guard`: what a candidate must pass before it is promoted.
- :class:`~freshrec.live.learner.Learner`: reads the event log from its checkpoint's cursor,
  learns, checkpoints, publishes candidates and promotes those the guard passes.
"""

from __future__ import annotations

from freshrec.live.guard import Guard, GuardVerdict
from freshrec.live.registry import LABELS, Registry, RegistryError, VersionInfo

__all__ = ["LABELS", "Guard", "GuardVerdict", "Registry", "RegistryError", "VersionInfo"]
