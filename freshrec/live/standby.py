"""Active and standby learners on a Redis Streams log: one learns, the others wait to take over.

Every learner of one model joins a consumer group on the log's stream under its own consumer
name and competes for a lease (a Redis key set with ``NX`` and a time to live). The holder is
the **active** learner:

- a thread of its own renews the lease every third of ``lease_ms`` while the learner makes
  progress, so a step longer than the lease (a fine-tune, the first step's compilation)
  keeps it; a learner that has neither finished a micro-batch nor polled the head of the
  log for ``stall_ms`` (hung) stops renewing, and a standby takes over at most ``lease_ms``
  later;
- before every write to the registry (a checkpoint, a publication, a promotion) and after
  every micro-batch it checks that it still holds the lease: a learner that lost it stops
  at once (:class:`LeaseLost`) and writes nothing more;
- it takes the stream's new entries into the group (``XREADGROUP``): they stay *pending* on
  it until a checkpoint covers every event of an entry, and then it acknowledges them
  (``XACK``).

A **standby** waits for the lease. When the active learner stops renewing it (killed, hung,
cut off), the lease expires, a standby takes it, claims the stopped learner's pending entries
(``XAUTOCLAIM``), loads the newest checkpoint and reads on from its cursor, acknowledging
what its checkpoints cover. Exactly-once learning comes from the checkpoint's cursor (see
:mod:`freshrec.live.learner`); the group says who holds which events and that none are left
unacknowledged at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, cast

import redis

from freshrec.live.learner import Learner, LearnerStatus
from freshrec.log.cursor import Cursor
from freshrec.log.log import EventLog
from freshrec.log.redis_streams import RedisBackend

__all__ = ["LeaseKeeper", "LeaseLost", "StreamGroup", "run_active_or_standby"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaseLost(RuntimeError):
    """The active learner's lease expired before it renewed it: another may have taken over."""


class StreamGroup:
    """One learner's place in a model's consumer group on a Redis Streams log.

    Parameters
    ----------
    log
        An event log stored in Redis Streams.
    model_name
        Names the group (``learners:NAME``) and the lease; learners of one model share it.
    consumer
        This learner's name in the group.
    lease_ms
        Lease time to live: a standby takes over this long after the active one stops.

    Examples
    --------
    >>> from freshrec.log import open_log
    >>> log = open_log("redis://127.0.0.1:6379/0?prefix=doc-standby")
    >>> group = StreamGroup(log, "bpr", consumer="learner-a", lease_ms=1000)
    >>> group.lease_key, group.group
    ('doc-standby:learners:bpr:lease', 'learners:bpr')
    """

    def __init__(self, log: EventLog, model_name: str, *, consumer: str, lease_ms: int = 5000):
        if not isinstance(log.backend, RedisBackend):
            raise ValueError(f"active and standby learners need a Redis log, not {log.backend!r}")
        if lease_ms < 1:
            raise ValueError(f"lease_ms must be >= 1, got {lease_ms}")
        self.stream = log.backend.keys.events
        self.db: redis.Redis = log.backend._db
        self.group = f"learners:{model_name}"
        self.lease_key = f"{log.backend.prefix}:learners:{model_name}:lease"
        self.consumer = consumer
        self.lease_ms = lease_ms
        self._renew = self.db.register_script(_RENEW)
        self._release = self.db.register_script(_RELEASE)

    def join(self) -> None:
        """Create the group at the start of the stream unless it exists."""
        try:
            self.db.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    # -- the lease ------------------------------------------------------------------------
    def acquire(self) -> bool:
        """Take the lease if nobody holds it; whether this learner holds it now."""
        if self.db.set(self.lease_key, self.consumer, nx=True, px=self.lease_ms):
            return True
        return self.renew()

    def renew(self) -> bool:
        """Extend the lease when this learner holds it; whether it does."""
        return bool(self._renew(keys=[self.lease_key], args=[self.consumer, self.lease_ms]))

    def release(self) -> None:
        """Give the lease up (when this learner holds it), so a standby need not wait; in one
        step, so a lease another learner took meanwhile stays theirs."""
        self._release(keys=[self.lease_key], args=[self.consumer])

    # -- entries --------------------------------------------------------------------------
    def take_new(self, count: int = 1000) -> int:
        """Take up to ``count`` new stream entries into the group (pending on this learner)."""
        reply = self.db.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=count)
        return sum(len(entries) for _, entries in cast(list[Any], reply or []))

    def claim(self) -> int:
        """Claim every entry pending on other learners of the group (``XAUTOCLAIM``)."""
        claimed, start = 0, "0-0"
        while True:
            reply = self.db.xautoclaim(self.stream, self.group, self.consumer, 0, start, count=1000)
            start, entries = reply[0], reply[1]
            claimed += len(entries)
            if start in (b"0-0", "0-0"):
                return claimed

    def acknowledge_through(self, cursor: Cursor) -> int:
        """Acknowledge this learner's pending entries whose every event is at or before
        ``cursor``; how many."""
        if not cursor.parts:
            return 0
        ms, seq, offset = cursor.parts
        ids: list[bytes] = []
        start = "-"
        while True:
            page = cast(
                list[dict[str, Any]],
                self.db.xpending_range(
                    self.stream, self.group, start, f"{ms}-{seq}", 1000, consumername=self.consumer
                ),
            )
            ids += [entry["message_id"] for entry in page]
            if len(page) < 1000:
                break
            last_id = ids[-1].decode() if isinstance(ids[-1], bytes) else str(ids[-1])
            start = "(" + last_id
        if not ids:
            return 0
        last = ids[-1].decode() if isinstance(ids[-1], bytes) else str(ids[-1])
        if last == f"{ms}-{seq}":  # the cursor's own entry counts when it is read through
            entry = cast(list[Any], self.db.xrange(self.stream, last, last))
            if offset < int(entry[0][1][b"n"]) - 1:
                ids = ids[:-1]
        return int(self.db.xack(self.stream, self.group, *ids)) if ids else 0

    def pending(self) -> int:
        """Entries taken into the group and not acknowledged, on any learner."""
        summary = self.db.xpending(self.stream, self.group)
        return int(summary["pending"])


class LeaseKeeper:
    """Keeps ``group``'s lease from a background thread while the learner makes progress.

    The thread renews the lease every ``lease_ms / 3``. The learner calls :meth:`progressed`
    after each micro-batch and each poll at the head of the log; when it has not for
    ``stall_ms``, the thread stops renewing, so a hung learner lets a standby take over.
    :meth:`check` raises :class:`LeaseLost` once the lease is gone (not renewed in time, or
    taken).

    Examples
    --------
    >>> from freshrec.log import open_log
    >>> log = open_log("redis://127.0.0.1:6379/0?prefix=doc-keeper")
    >>> group = StreamGroup(log, "bpr", consumer="learner-a", lease_ms=300)
    >>> group.acquire()
    True
    >>> with LeaseKeeper(group, stall_ms=10_000) as keeper:
    ...     time.sleep(1.0)  # a step three times longer than the lease
    ...     keeper.check()
    >>> group.release()
    """

    def __init__(self, group: StreamGroup, *, stall_ms: int) -> None:
        if stall_ms < 1:
            raise ValueError(f"stall_ms must be >= 1, got {stall_ms}")
        self.group = group
        self.stall_s = stall_ms / 1000
        self._last_progress = time.monotonic()
        self._lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_while_alive, daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def progressed(self) -> None:
        """The learner finished a micro-batch or polled the head of the log."""
        self._last_progress = time.monotonic()

    def check(self) -> None:
        """Renew the lease now; raise :class:`LeaseLost` when this learner no longer holds it."""
        if self._lost or not self.group.renew():
            self._lost = True
            raise LeaseLost(f"{self.group.consumer} lost the lease {self.group.lease_key}")

    def _renew_while_alive(self) -> None:
        while not self._stop.wait(self.group.lease_ms / 3000):
            if time.monotonic() - self._last_progress > self.stall_s:
                continue  # hung: let the lease run out
            try:
                renewed = self.group.renew()
            except redis.RedisError:
                continue  # Redis unreachable for a moment: try again at the next tick
            if not renewed:
                self._lost = True
                return


def run_active_or_standby(
    make_learner: Callable[[], Learner],
    group: StreamGroup,
    *,
    poll_s: float = 0.1,
    max_events: int | None = None,
    until: int | None = None,
    follow: bool = False,
    on_status: Callable[[LearnerStatus], None] | None = None,
    stall_ms: int | None = None,
) -> LearnerStatus:
    """Wait for the lease (standby), then learn as the active learner until the run ends.

    On taking over: claims the pending entries of the learner it replaces, builds the learner
    (``make_learner`` loads the newest checkpoint) and acknowledges what that checkpoint
    already covers. While active: keeps the lease (:class:`LeaseKeeper`; ``stall_ms``,
    default ``12 * lease_ms``, is the longest a micro-batch or a poll may take before the
    learner counts as hung); checks it before each write to the registry
    (:attr:`Learner.before_write`) and after each micro-batch, raising :class:`LeaseLost` when
    it is lost; takes new entries after each micro-batch and acknowledges those each
    checkpoint covers. At the end it releases the lease. ``max_events``, ``until`` and
    ``follow`` are those of :meth:`Learner.run`.

    Examples
    --------
    >>> import tempfile, uuid
    >>> from freshrec.checks import checkerboard_events
    >>> from freshrec.live.registry import Registry
    >>> from freshrec.log import open_log
    >>> from freshrec.models import MostPopular
    >>> log = open_log(f"redis://127.0.0.1:6379/0?prefix=doc-{uuid.uuid4().hex}")
    >>> _ = log.append(checkerboard_events())
    >>> registry = Registry(tempfile.mkdtemp())
    >>> group = StreamGroup(log, "popular", consumer="learner-a", lease_ms=1000)
    >>> status = run_active_or_standby(lambda: Learner(log, registry, MostPopular(),
    ...     micro_batch=32, candidate_every=64, guard_events=32, checkpoint_every=64), group)
    >>> status.position, group.pending()
    (192, 0)
    >>> group.db.delete(*group.db.keys(f"{log.backend.prefix}:*")) > 0
    True
    """
    group.join()
    while not group.acquire():
        time.sleep(poll_s)
    keeper = LeaseKeeper(group, stall_ms=stall_ms or 12 * group.lease_ms)
    try:
        with keeper:
            group.claim()
            learner = make_learner()
            group.acknowledge_through(learner.cursor())
            checkpointed = learner.checkpoints.names()
            learner.before_write = keeper.check

            def after_batch(status: LearnerStatus) -> None:
                keeper.check()
                keeper.progressed()
                group.take_new()
                names = learner.checkpoints.names()
                if names != checkpointed:
                    checkpointed[:] = names
                    group.acknowledge_through(learner.checkpoint_cursor())
                if on_status is not None:
                    on_status(status)

            status = learner.run(
                max_events=max_events, until=until, follow=follow, on_status=after_batch
            )
            group.take_new()
            group.acknowledge_through(learner.checkpoint_cursor())
    finally:
        group.release()
    return status
