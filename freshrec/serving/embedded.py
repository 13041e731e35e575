"""``freshrec serve``'s default: a SQLite event log, a registry folder and a learner thread
under one data folder, behind the HTTP app. Nothing else to start.

Exploring decisions go to a decision log beside the event log
(:meth:`~freshrec.live.decisions.DecisionLog.beside`: ``events.decisions.db``), which the
app records into and the learner's off-policy gate reads.

Examples
--------
>>> import tempfile
>>> from fastapi.testclient import TestClient
>>> with EmbeddedService(tempfile.mkdtemp(), "popular", candidate_every=100,
...                      guard_events=50, micro_batch=50, checkpoint_every=100) as service:
...     with TestClient(service.app()) as client:
...         events = [{"event_id": i, "user": i % 7, "item": i % 5} for i in range(160)]
...         client.post("/v1/events", json={"events": events}).json()["accepted"]
160
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from fastapi import FastAPI

from freshrec.jobs.learn import make_learner
from freshrec.live.decisions import DecisionLog
from freshrec.live.learner import Learner
from freshrec.live.ope_gate import OffPolicyGate
from freshrec.live.registry import Registry
from freshrec.log import open_log
from freshrec.serving.app import create_app
from freshrec.serving.retrieval import ItemIndex
from freshrec.serving.settings import ExploreSettings, Settings
from freshrec.serving.store import ModelStore

__all__ = ["EmbeddedService"]

logger = logging.getLogger(__name__)
DEFAULT_GATE = OffPolicyGate()  # the learner's off-policy gate unless told otherwise


class EmbeddedService:
    """The log, the registry, the learner and the serving store of one service.

    Parameters
    ----------
    data_dir
        Holds ``events.db`` (the log) and ``registry/`` unless ``log_url`` and
        ``registry_dir`` say otherwise.
    model, strategy
        What the learner learns (registered names) and how (default streaming).
    log_url, registry_dir
        Another log (``redis://...``) or registry folder.
    learn
        Run the learner in this process (``False``: a replica that only serves what another
        process's learner publishes).
    overrides
        ``--set`` style hyperparameters (``{"bpr": {"lr": 0.05}}``).
    index
        Retrieve from an approximate index with these settings (see
        :class:`~freshrec.serving.store.ModelStore`); ``None``: score every item.
    ope
        The learner's off-policy gate on the logged exploring decisions (``None``: none);
        give it the temperature and floor the service explores with. It passes every
        candidate until ``min_rounds`` decisions are logged in a check's window.
    learner_settings
        :func:`~freshrec.jobs.learn.make_learner`'s settings (``micro_batch``,
        ``candidate_every``, ``guard_events``, ``checkpoint_every``, ...); defaults here suit
        a service that starts empty: a version every 2,000 events, checked on the next 500.

    Examples
    --------
    >>> import tempfile
    >>> service = EmbeddedService(tempfile.mkdtemp(), "popular", learn=False)
    >>> service.log_url.endswith("events.db"), service.learner_lag() is None
    (True, True)
    >>> service.decisions.log.backend.path.name
    'events.decisions.db'
    >>> service.stop()
    """

    def __init__(
        self,
        data_dir: str | Path,
        model: str = "bpr",
        strategy: str = "streaming",
        *,
        log_url: str | None = None,
        registry_dir: str | Path | None = None,
        learn: bool = True,
        overrides: dict[str, dict[str, Any]] | None = None,
        index: ItemIndex | None = None,
        ope: OffPolicyGate | None = DEFAULT_GATE,
        **learner_settings: Any,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_url = log_url or f"sqlite:///{self.data_dir / 'events.db'}"
        registry_path = Path(registry_dir) if registry_dir else self.data_dir / "registry"
        self.store = ModelStore(Registry(registry_path), open_log(self.log_url), index=index)
        self.decisions = DecisionLog.beside(self.log_url)
        settings = {
            "micro_batch": 100,
            "candidate_every": 2_000,
            "guard_events": 500,
            "checkpoint_every": 1_000,
            **learner_settings,
        }
        self.learner: Learner | None = (
            make_learner(
                self.log_url,
                registry_path,
                model,
                strategy,
                overrides=overrides,
                ope=ope,
                decisions=self.decisions,
                **settings,
            )
            if learn
            else None
        )
        self.learner_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def app(
        self, settings: Settings | None = None, explore: ExploreSettings | None = None
    ) -> FastAPI:
        """The HTTP app over this service's store, exploring with ``explore`` into the
        service's decision log; shutting it down stops the service."""
        return create_app(
            self.store,
            settings,
            learner_lag=self.learner_lag,
            on_stop=self.stop,
            explore=explore,
            decisions=self.decisions,
        )

    def learner_lag(self) -> int | None:
        """Events in the log the learner has not learned (``None`` without a learner)."""
        if self.learner is None:
            return None
        return len(self.store.log) - self.learner.status().position

    def start(self) -> None:
        """Start the learner thread (following the log until :meth:`stop`)."""
        if self.learner is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._learn, name="freshrec-learner", daemon=True)
        self._thread.start()

    def _learn(self) -> None:
        assert self.learner is not None
        try:
            self.learner.run(follow=True, stop=self._stop, poll_s=0.1)
        except BaseException as err:  # reported by learner_error and the log; serving goes on
            self.learner_error = err
            logger.exception("the learner stopped")

    def stop(self) -> None:
        """Stop the learner (it checkpoints where it stands) and close the logs."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.learner is not None:
            self.learner.log.close()
        self.store.log.close()
        self.decisions.close()

    def __enter__(self) -> EmbeddedService:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
