"""The learner: keeps a published model fresh from the event log, exactly once.

One loop, in log order:

1. **Read** the events after the model's cursor, cut into micro-batches at fixed log positions
   (every ``micro_batch`` events from the start of the log), so a learner that restarts cuts
   the same batches whatever a read returned; at the head it waits (``follow``) or stops,
   learning the last, shorter batch.
2. **Learn** each micro-batch through an update strategy (default: streaming ``partial_fit``)
   in :meth:`~freshrec.base.RecommenderBase.learning_through` the batch's last cursor, so the
   model's cursor moves past it and it keeps no copy. With a per-user cap
   (the guard's ``max_user_events``), a user's events beyond the cap in the current candidate window
   are passed over. A strategy must learn each batch in its own step (streaming, fine-tune
   with ``every=1``): the cursor moves past what it is given.
3. **Checkpoint** every ``checkpoint_every`` events: the model folder (parameters, id maps,
   random-generator state and the cursor) written atomically under ``checkpoints/`` of the
   registry. A restarted learner loads the newest checkpoint that verifies (a torn or corrupt
   one is reported and skipped) and reads on from its cursor: events after it are learned
   again from the same state, so every event is applied exactly once in effect.
4. **Publish** a candidate version every ``candidate_every`` events; once the next
   ``guard_events`` events are in the log, the :class:`~freshrec.live.guard.Guard` compares
   it with the stable version on those events (neither has learned them; users the stable
   version does not know are left out, so a burst of new accounts cannot vouch for itself)
   and the registry promotes it or records why it was rejected. Before that, the stable
   version is compared on the same events with the version it replaced, and rolled back
   when it does worse (its live metric fell).
   With an off-policy gate (``guard.ope``) and a :class:`~freshrec.live.decisions.DecisionLog`,
   the guard also values both versions' softmax policies on the exploring decisions served
   after the last event the candidate learned, whose reward windows closed within those
   held-out events (rewards are joined from them). Decisions served earlier may have their
   clicks among what the candidate learned, which would flatter it.
5. **Quarantine.** A candidate rejected because accounts pushed an item names them: the
   learner goes back to the stable version, sets their events aside (recorded with the
   rejection in the registry's journal, so a restart sets aside the same) and learns the
   events since the stable version again without them.

Examples
--------
>>> import tempfile
>>> from freshrec.checks import checkerboard_events
>>> from freshrec.live.registry import Registry
>>> from freshrec.log import open_log
>>> from freshrec.models import BPR
>>> log = open_log("memory://")
>>> _ = log.append(checkerboard_events())
>>> registry = Registry(tempfile.mkdtemp())
>>> learner = Learner(log, registry, BPR(n_factors=4, seed=0), micro_batch=20,
...                   candidate_every=100, guard_events=40, checkpoint_every=20)
>>> status = learner.run()
>>> status.position, status.lag, registry.labels()["stable"]
(192, 0, 'v000001')
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from freshrec.base import RecommenderBase
from freshrec.capabilities import PredictsRatings
from freshrec.data.batch import EventBatch
from freshrec.live.checkpoints import CheckpointStore
from freshrec.live.decisions import DecisionLog, LoggedRounds
from freshrec.live.guard import Guard, GuardVerdict
from freshrec.live.registry import Registry
from freshrec.log.cursor import Cursor, Cursors
from freshrec.log.log import EventLog
from freshrec.update.strategies import Streaming, UpdateStrategy

__all__ = ["Learner", "LearnerStatus"]

READ_AHEAD = 65_536  # events read from the log at a time, then cut into micro-batches


@dataclass(frozen=True)
class LearnerStatus:
    """Where the learner stands.

    Attributes
    ----------
    position
        Events of the log learned (the model's cursor as a count).
    head
        Events in the log.
    events_per_s
        Events learned per second of this run (reading, learning, checkpoints and checks).
    last_version
        The latest version published (``None`` before the first).
    promoted, rejected
        Candidates promoted and rejected in this run.
    capped
        Events passed over in this run by the per-user cap.
    rolled_back
        Stable versions rolled back in this run: on the events served since their
        promotion, they did worse than the version they replaced.

    Examples
    --------
    >>> LearnerStatus(900, 1000, 5000.0, "v000002", 2, 0).lag
    100
    """

    position: int
    head: int
    events_per_s: float
    last_version: str | None
    promoted: int
    rejected: int
    capped: int = 0
    rolled_back: int = 0

    @property
    def lag(self) -> int:
        """Events in the log not learned yet."""
        return self.head - self.position


class Learner:
    """Learns ``model`` from ``log`` and publishes guarded versions to ``registry``.

    Parameters
    ----------
    log
        The event log to learn from.
    registry
        Where versions are published; checkpoints go to its ``checkpoints/`` folder.
    model
        The model to start from when there is no checkpoint yet: unfitted, or learned from
        this log (its ``cursor_``). A checkpoint, when there is one, takes its place.
    strategy
        How each micro-batch is learned (default: :class:`Streaming`, one epoch for models
        that have epochs).
    micro_batch
        Events per learning step; batches end at multiples of it in the log.
    candidate_every, guard_events, checkpoint_every
        Publish a candidate every ``candidate_every`` events (a multiple of
        ``micro_batch``), check it on the next ``guard_events`` (at most
        ``candidate_every``), checkpoint every ``checkpoint_every`` events (a multiple of
        ``micro_batch``).
    guard
        The checks a candidate must pass and the per-user cap on learned events (default
        :class:`Guard()`: no cap). Events of a user beyond ``guard.max_user_events`` in one
        candidate window are passed over (the cursor moves past them), which blunts a burst
        from a few users; they are counted from the log, so a restart caps the same events.
        The two latest checkpoints are kept.
    decisions
        The exploring decisions the service logged: with ``guard.ope`` set, each check
        passes the guard the rounds served since the candidate was cut (``None``: no
        off-policy check).

    Attributes
    ----------
    before_write
        Called before each write to the registry (a checkpoint, a publication, a promotion,
        a rejection, a rollback); ``None`` by default. An active learner under a lease sets
        it to renew the lease and raise when it cannot
        (:func:`~freshrec.live.standby.run_active_or_standby`), so a learner whose lease ran
        out during a long step writes nothing more.

    Examples
    --------
    A second learner on the same registry goes on from the first one's checkpoint:

    >>> import tempfile
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.log import open_log
    >>> from freshrec.models import BPR
    >>> log = open_log("memory://")
    >>> _ = log.append(checkerboard_events())
    >>> registry = Registry(tempfile.mkdtemp())
    >>> settings = dict(micro_batch=20, candidate_every=100, guard_events=40, checkpoint_every=20)
    >>> Learner(log, registry, BPR(seed=0), **settings).run(max_events=60).position
    60
    >>> Learner(log, registry, BPR(seed=0), **settings).run().position
    192
    """

    def __init__(
        self,
        log: EventLog,
        registry: Registry,
        model: RecommenderBase,
        *,
        strategy: UpdateStrategy | None = None,
        micro_batch: int = 1000,
        candidate_every: int = 100_000,
        guard_events: int = 25_000,
        checkpoint_every: int = 10_000,
        guard: Guard | None = None,
        decisions: DecisionLog | None = None,
    ) -> None:
        if micro_batch < 1:
            raise ValueError(f"micro_batch must be >= 1, got {micro_batch}")
        for name, value in (
            ("candidate_every", candidate_every),
            ("checkpoint_every", checkpoint_every),
        ):
            if value < micro_batch or value % micro_batch:
                raise ValueError(
                    f"{name} ({value}) must be a multiple of micro_batch ({micro_batch})"
                )
        if not 1 <= guard_events <= candidate_every:
            raise ValueError(f"guard_events must be in [1, candidate_every], got {guard_events}")
        self.log = log
        self.registry = registry
        self.micro_batch = micro_batch
        self.candidate_every = candidate_every
        self.guard_events = guard_events
        self.checkpoint_every = checkpoint_every
        self.guard = guard or Guard()
        self.decisions = decisions
        self.before_write: Callable[[], None] | None = None
        self._window_start = -1
        self._window_counts = np.zeros(0, np.int64)
        self._capped = 0
        self.checkpoints = CheckpointStore(registry.path / "checkpoints")
        restored, self.corrupt_checkpoints = self.checkpoints.latest()
        self.model = restored or model
        self._checkpointed = self.cursor() if restored is not None else Cursor.START
        if self.model.is_fitted and getattr(self.model, "cursor_", None) is None:
            raise ValueError(
                f"{type(self.model).__name__} has learned {self.model.n_events_:,} events but "
                "has no log cursor: give an unfitted model, or one learned from this log "
                "(learn_from_log)"
            )
        self.model.attach(log)
        self._pos = log.position(self.cursor())  # events learned, kept as a count
        self._ahead: tuple[EventBatch, Cursors] = (EventBatch.empty(), Cursors.empty())
        epochs = 1 if "n_epochs" in self.model.get_params() else None
        self.strategy = strategy or Streaming(micro_batch=micro_batch, epochs=epochs)
        self.strategy.prime(log.window(Cursor.START, self.cursor()), log)
        self.last_version: str | None = None
        self._promoted = self._rejected = self._rolled_back = 0
        self._pending = self._pending_candidate()
        self._quarantined = set(registry.quarantined())

    # -- the loop -------------------------------------------------------------------------
    def run(
        self,
        *,
        max_events: int | None = None,
        until: int | None = None,
        follow: bool = False,
        poll_s: float = 0.2,
        on_status: Callable[[LearnerStatus], None] | None = None,
        stop: threading.Event | None = None,
    ) -> LearnerStatus:
        """Learn until the head of the log (or ``max_events`` more, or until the log's first
        ``until`` events are learned; with ``follow``, until one of those, ``stop`` is set or
        forever, waiting for new events); return where it stands. ``on_status`` is told
        where it stands after each micro-batch and, waiting at the head, after each poll.

        At the head without ``follow`` the last, shorter micro-batch is learned too and a
        checkpoint is written.
        """
        started, learned = time.perf_counter(), 0
        self._check_if_due()  # before publishing: a new candidate replaces the pending one
        self._publish_if_due()
        while (max_events is None or learned < max_events) and not (stop and stop.is_set()):
            position = self._pos
            if until is not None and position >= until:
                break
            wanted = self.micro_batch - position % self.micro_batch
            if max_events is not None:
                wanted = min(wanted, max_events - learned)
            if until is not None:
                wanted = min(wanted, until - position)
            batch = self._next(wanted)
            if batch is None and follow:
                if stop is not None:
                    stop.wait(poll_s)
                else:
                    time.sleep(poll_s)
                if on_status is not None:  # waiting at the head is alive too
                    on_status(self.status(learned / max(time.perf_counter() - started, 1e-9)))
                continue
            if batch is None:
                batch = self._next(wanted, partial=True)
            if batch is None:
                break
            events, through = batch
            n_read = len(events)
            if self._quarantined:  # accounts a rejection set aside: passed over
                users = events.user.tolist()
                keep = np.fromiter((u not in self._quarantined for u in users), bool, len(users))
                events = events.take(keep)
            if self.guard.max_user_events is not None:
                events = events.take(self._under_cap(events, position))
                self._capped += n_read - len(events)
            with self.model.learning_through(through):
                if len(events):
                    self.strategy.step(self.model, events)
            learned += n_read
            position = self._pos = position + n_read
            if position % self.checkpoint_every == 0:
                self.checkpoint()
            self._check_if_due()
            self._publish_if_due()
            if on_status is not None:
                on_status(self.status(learned / max(time.perf_counter() - started, 1e-9)))
        if learned and self._pos % self.checkpoint_every:
            self.checkpoint()
        return self.status(learned / max(time.perf_counter() - started, 1e-9))

    def _next(self, n: int, *, partial: bool = False) -> tuple[EventBatch, Cursor] | None:
        """The log's next ``n`` events after the model's cursor and the cursor after them
        (fewer, at the head, with ``partial``); ``None`` when there are not enough. Reads
        ahead in blocks of ``READ_AHEAD`` events and cuts batches from what it read."""
        if len(self._ahead[1]) < n:
            after = self._ahead[1][-1] if len(self._ahead[1]) else self.cursor()
            read = self.log.read(after, max(READ_AHEAD, n))
            if len(read) and not len(self._ahead[1]):
                self._ahead = (read.events, read.cursors)
            elif len(read):
                self._ahead = (
                    EventBatch.concat([self._ahead[0], read.events]),
                    Cursors.concat([self._ahead[1], read.cursors]),
                )
        events, cursors = self._ahead
        if len(cursors) < n and not (partial and len(cursors)):
            return None
        n = min(n, len(cursors))
        self._ahead = (events[n:], cursors[n:])
        return events[:n], cursors[n - 1]

    def status(self, events_per_s: float = 0.0) -> LearnerStatus:
        """Where the learner stands now."""
        return LearnerStatus(
            self._pos,
            len(self.log),
            events_per_s,
            self.last_version,
            self._promoted,
            self._rejected,
            self._capped,
            self._rolled_back,
        )

    # -- cursor ---------------------------------------------------------------------------
    def cursor(self) -> Cursor:
        """The cursor the model has learned up to (:attr:`Cursor.START` before any event)."""
        cursor = getattr(self.model, "cursor_", None)
        return Cursor.parse(cursor) if cursor else Cursor.START

    # -- the per-user cap -----------------------------------------------------------------
    def _under_cap(self, events: EventBatch, position: int) -> np.ndarray:
        """Which of ``events`` (the log's, from ``position``) keep their user within
        the guard's ``max_user_events`` in the current candidate window; counted from the log, so a
        restarted learner caps the same events."""
        start = position - position % self.candidate_every
        if self._window_start != start:  # a new window, or a restart inside one
            users = self.log.arrays()[0][start:position]
            self._window_counts = np.bincount(users, minlength=len(self.log.users))
            self._window_start = start
        users = events.indices()[0]
        if len(self._window_counts) < len(self.log.users):
            grown = np.zeros(len(self.log.users), np.int64)
            grown[: len(self._window_counts)] = self._window_counts
            self._window_counts = grown
        order = np.argsort(users, kind="stable")
        ranked = users[order]
        rank = np.empty(len(users), np.int64)
        rank[order] = np.arange(len(users)) - np.searchsorted(ranked, ranked, side="left")
        cap = self.guard.max_user_events or len(users)  # called only with a cap
        keep: np.ndarray = self._window_counts[users] + rank < cap
        np.add.at(self._window_counts, users, 1)
        return keep

    # -- checkpoints ----------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Save the model (with its cursor) as the newest checkpoint; drop older ones."""
        self._about_to_write()
        self.checkpoints.save(self.model, position=self._pos)
        self._checkpointed = self.cursor()

    def _about_to_write(self) -> None:
        """Call :attr:`before_write` (when set) before writing to the registry."""
        if self.before_write is not None:
            self.before_write()

    def checkpoint_cursor(self) -> Cursor:
        """The cursor of the newest checkpoint written or loaded (:attr:`Cursor.START` when
        none): the events a restart would not learn again."""
        return self._checkpointed

    # -- candidates and the guard ---------------------------------------------------------
    def _publish_if_due(self) -> None:
        """Publish a candidate at each multiple of ``candidate_every`` (once: a restart
        between the checkpoint and the publication publishes it then)."""
        position = self._pos
        if not position or position % self.candidate_every:
            return
        if str(self.cursor()) in self._published_since_quarantine():
            return
        self._about_to_write()
        self.last_version = self.registry.publish(self.model)
        self._pending = (self.last_version, self.cursor(), self._pos)

    def _published_since_quarantine(self) -> set[str | None]:
        """The cursors of the versions published since the last quarantine (before it, the
        learner's model held what the quarantine set aside)."""
        journal = self.registry.journal()
        last = max(
            (i for i, r in enumerate(journal) if r["action"] == "reject" and r.get("quarantined")),
            default=-1,
        )
        return {r.get("cursor") for r in journal[last + 1 :] if r["action"] == "publish"}

    def _pending_candidate(self) -> tuple[str, Cursor, int] | None:
        """The candidate waiting for its check, the cursor it learned up to and the events
        that makes."""
        candidate = self.registry.labels()["candidate"]
        info = next((v for v in self.registry.versions() if v.version == candidate), None)
        if info is None or info.cursor is None:
            return None
        cursor = Cursor.parse(info.cursor)
        return info.version, cursor, self.log.position(cursor)

    def _check_if_due(self) -> None:
        """Check the candidate once the ``guard_events`` after it are learned."""
        if self._pending is None:
            return
        candidate, start, first = self._pending
        if self._pos < first + self.guard_events:
            return
        verdict = self._verdict(candidate, start, first)
        self._about_to_write()
        self._pending = None
        if verdict.passed:
            self.registry.promote(candidate, reason=verdict.reason, metrics=verdict.metrics)
            self._promoted += 1
            return
        self._rejected += 1
        if verdict.pushers and self.registry.labels()["stable"] is not None:
            self._go_back_to_stable()
        self.registry.reject(
            candidate,
            reason=verdict.reason,
            metrics=verdict.metrics,
            quarantined=verdict.pushers,
        )
        self._quarantined.update(verdict.pushers)

    def _go_back_to_stable(self) -> None:
        """Continue from the stable version instead of the learner's own model, which learned
        what a rejection sets aside: drop the checkpoints after it, checkpoint it, and read
        on from its cursor (the quarantine is recorded after this, so a learner killed in
        between checks the same candidate again and comes back here)."""
        stable = self.registry.load("stable")
        stable.attach(self.log)
        self.model = stable
        self._pos = self.log.position(self.cursor())
        self._ahead = (EventBatch.empty(), Cursors.empty())
        self._window_start = -1
        self.checkpoints.drop_after(self._pos)
        self.checkpoint()
        self.strategy.prime(self.log.window(Cursor.START, self.cursor()), self.log)

    def _verdict(self, candidate: str, start: Cursor, first: int) -> GuardVerdict:
        """The guard's verdict on ``candidate`` (learned up to ``start``, position
        ``first``) over the next ``guard_events`` events of the log."""
        labels = self.registry.labels()
        stable = self.registry.load("stable") if labels["stable"] is not None else None
        window = self.log.window(start, self.log.cursor_at(first + self.guard_events))
        held_out = window
        if stable is not None:
            held_out = held_out.take(stable.user_map_.encode(held_out.user) >= 0)
        model = self.registry.load(candidate)
        ranks = not isinstance(model, PredictsRatings)  # RMSE masks nothing
        seen = self._seen(held_out, first) if ranks else EventBatch.empty()
        if stable is not None and labels["previous"] is not None:
            stable = self._keep_or_roll_back(stable, held_out, seen)
        since = getattr(stable, "cursor_", None) if stable is not None else None
        first_learned = Cursor.parse(since) if since else Cursor.START
        rounds = self._rounds(model, window, first) if stable is not None else None
        return self.guard.check(
            model, stable, held_out, seen, lambda: self.log.window(first_learned, start), rounds
        )

    def _rounds(
        self, model: RecommenderBase, window: EventBatch, first: int
    ) -> LoggedRounds | None:
        """The exploring decisions served after the log's first ``first`` events (the
        candidate's) whose reward windows closed within ``window`` (the held-out events),
        rewards joined from it; ``None`` without a gate or a decision log."""
        gate = self.guard.ope
        if gate is None or self.decisions is None or window.timestamp is None:
            return None
        last_learned = self.log.take(np.array([first - 1])).timestamp if first else None
        return self.decisions.rounds(
            window,
            threshold=float(model.threshold),
            reward_window_s=gate.reward_window_s,
            start_s=float(last_learned[0]) if last_learned is not None else -np.inf,
        )

    def _keep_or_roll_back(
        self, stable: RecommenderBase, held_out: EventBatch, seen: EventBatch
    ) -> RecommenderBase:
        """Roll the stable version back when, on the events served since it was promoted,
        it does worse than the version it replaced; the stable version after that."""
        previous = self.registry.load("previous")
        live = self.guard.compare(stable, previous, held_out, seen)
        if live.passed:
            return stable
        self._about_to_write()
        self.registry.rollback(reason=f"live metric fell: {live.reason}")
        self._rolled_back += 1
        return previous

    def _seen(self, held_out: EventBatch, first: int) -> EventBatch:
        """The held-out users' events among the log's first ``first`` (masked in ranking)."""
        users, items, values = (column[:first] for column in self.log.arrays())
        wanted = self.log.users.encode(np.unique(held_out.user)) if len(held_out) else users[:0]
        keep = np.isin(users, wanted[wanted >= 0])
        return EventBatch(
            self.log.users.decode(users[keep]), self.log.items.decode(items[keep]), values[keep]
        )
