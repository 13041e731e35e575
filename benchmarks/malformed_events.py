"""Malformed events among valid ones over HTTP: each malformed one rejected with a reason,
each valid one stored once, no server error; unparseable bodies get 4xx.

Usage::

    python benchmarks/malformed_events.py [--malformed 10000] [--valid 10000] [--batch 500]
                                          [--seed 0] [--out FILE]

The server: ``EmbeddedService`` over a new SQLite log in a temporary folder, ``learn=False``,
default ``Settings`` (body limit 1,000,000 bytes, 10,000 events a batch, 100 events/s per user
with a burst of 1,000: the valid events come from 1,000 users, about 10 each), served by
uvicorn on a free loopback port in a thread of this process.

1. **Mixed batches.** ``--malformed`` events drawn (seeded numpy RNG) from :data:`KINDS`, each
   naming the field it gets wrong, and ``--valid`` events (distinct ``event_id``; with or
   without value, timestamp, propensity, context), shuffled together and sent in batches of
   ``--batch`` events as raw JSON text (NaN and Infinity written in, as Python's ``json``
   writes them). Checks: no answer >= 500; every malformed event rejected at its index, with
   a non-empty reason and the field it gets wrong; no valid event rejected; ``accepted`` is
   the number of valid events of the batch, ``duplicate`` 0.
2. **Unparseable bodies**, each on its own: invalid UTF-8, a 1 MB string (over the body
   limit), the same body streamed chunked (no Content-Length), 10,001 events (over the batch
   limit), truncated JSON, an empty body, top levels that are not an object, ``events`` not
   a list, a non-JSON content type. Check: each answer is 4xx.
3. **The log**, read back with ``open_log("sqlite:///...")`` once the server has stopped:
   exactly the valid ``event_id`` values, each once.
4. **Probe** (not part of 1, where a 500 would lose the whole batch): a batch of one valid
   event and one whose integer ``event_id`` is beyond 64 bits, which the schema fuzzing found
   answers 500; reported, and whether the valid event was stored despite the 500.

Output: ``benchmarks/results/malformed_events.json`` and a summary table. Time: under a minute
on 2 cores.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "malformed_events.json"
N_USERS, N_ITEMS = 1_000, 500
DAY = 86_400.0

# A malformed event is a valid-looking one with one change: (the field it gets wrong, the
# change). A change maps the event's fields, as raw JSON text by name, to new ones; ``None``
# as a result means the event is the text under the key "" (not an object).
Fields = dict[str, str]
Change = Callable[[Fields, np.random.Generator, float], Fields]


def _set(name: str, text: str | Callable[[np.random.Generator, float], str]) -> Change:
    def change(fields: Fields, rng: np.random.Generator, now: float) -> Fields:
        return {**fields, name: text(rng, now) if callable(text) else text}

    return change


def _drop(name: str) -> Change:
    return lambda fields, rng, now: {k: v for k, v in fields.items() if k != name}


def _whole(text: str) -> Change:
    return lambda fields, rng, now: {"": text}


def _long_id(rng: np.random.Generator, now: float) -> str:
    return json.dumps("x" * int(rng.integers(300, 1_000)))


def _big_int(rng: np.random.Generator, now: float) -> str:
    return str((2**64 + int(rng.integers(1 << 30))) * int(rng.choice([-1, 1])))


KINDS: dict[str, tuple[str, Change]] = {
    "value NaN": ("value", _set("value", "NaN")),
    "value Infinity": ("value", _set("value", "Infinity")),
    "value -Infinity": ("value", _set("value", "-Infinity")),
    "value a string": ("value", _set("value", '"4.5"')),
    "value a list": ("value", _set("value", "[4.5]")),
    "value an object": ("value", _set("value", '{"stars": 4}')),
    "value a bool": ("value", _set("value", "true")),
    "value null": ("value", _set("value", "null")),
    **{
        f"{name} {label}": (name, _set(name, text))
        for name in ("user", "item")
        for label, text in [
            ("a bool", "false"),
            ("a list", '["u1"]'),
            ("a float", "1.5"),
            ("null", "null"),
            ("empty", '""'),
            ("300+ chars", _long_id),
            ("beyond 64 bits", _big_int),
        ]
    },
    "event_id missing": ("event_id", _drop("event_id")),
    "event_id null": ("event_id", _set("event_id", "null")),
    "timestamp NaN": ("timestamp", _set("timestamp", "NaN")),
    "timestamp negative": ("timestamp", _set("timestamp", lambda r, now: f"{-r.uniform(1, 1e9)}")),
    "timestamp 10 days ahead": ("timestamp", _set("timestamp", lambda r, now: f"{now + 10 * DAY}")),
    "timestamp a string": ("timestamp", _set("timestamp", '"2024-01-01T00:00:00Z"')),
    "propensity 0": ("propensity", _set("propensity", "0")),
    "propensity 1.5": ("propensity", _set("propensity", "1.5")),
    "propensity -1": ("propensity", _set("propensity", "-1")),
    "propensity NaN": ("propensity", _set("propensity", "NaN")),
    "context value a list": ("context.device", _set("context", '{"device": ["a", "b"]}')),
    "context value an object": ("context.device", _set("context", '{"device": {"os": "x"}}')),
    "context value a huge int": ("context.device", _set("context", f'{{"device": {2**60}}}')),
    "context value NaN": ("context.device", _set("context", '{"device": NaN}')),
    "not an object: a number": ("event", _whole("17")),
    "not an object: a string": ("event", _whole('"click"')),
    "not an object: a list": ("event", _whole('["u1", "i1"]')),
    "unknown field": ("colour", _set("colour", '"red"')),
}


@dataclass
class Entry:
    """One event of the run: its JSON text and, when malformed, its kind and field."""

    text: str
    event_id: str | None  # valid events only
    kind: str | None = None
    field: str | None = None


def _text(fields: Fields) -> str:
    if "" in fields:
        return fields[""]
    return "{" + ", ".join(f"{json.dumps(name)}: {value}" for name, value in fields.items()) + "}"


def _base(event_id: str, rng: np.random.Generator) -> Fields:
    return {
        "event_id": json.dumps(event_id),
        "user": json.dumps(f"u{rng.integers(N_USERS)}"),
        "item": json.dumps(f"i{rng.integers(N_ITEMS)}"),
    }


def valid_event(i: int, rng: np.random.Generator, now: float) -> Entry:
    """A valid event, its optional fields drawn: value, timestamp, propensity, context."""
    fields = _base(f"ok-{i}", rng)
    if rng.random() < 0.7:
        fields["value"] = json.dumps(float(rng.choice([0.0, 1.0, 2.5, 4.0, 5.0])))
    if rng.random() < 0.5:
        fields["timestamp"] = json.dumps(now - rng.uniform(0, 30 * DAY))
    if rng.random() < 0.3:
        fields["propensity"] = json.dumps(float(rng.uniform(0.01, 1.0)))
    if rng.random() < 0.3:
        context = {"device": str(rng.choice(["web", "mobile"])), "hour": int(rng.integers(24))}
        fields["context"] = json.dumps(context)
    return Entry(_text(fields), f"ok-{i}")


def malformed_event(i: int, kind: str, rng: np.random.Generator, now: float) -> Entry:
    field, change = KINDS[kind]
    return Entry(_text(change(_base(f"bad-{i}", rng), rng, now)), None, kind, field)


def _post(
    url: str, body: bytes | Iterator[bytes], content_type: str = "application/json"
) -> tuple[int | None, Any]:
    """POST ``body`` to ``url``/v1/events on a new connection (an iterator: chunked): the
    status (``None``: the connection failed) and the JSON answer (or the error as text)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        headers = {"Content-Type": content_type}
        chunked = not isinstance(body, bytes)
        connection.request("POST", "/v1/events", body, headers, encode_chunked=chunked)
        response = connection.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data.decode("utf-8", "replace")[:300]
    except (OSError, http.client.HTTPException) as err:
        return None, f"{type(err).__name__}: {err}"
    finally:
        connection.close()


def send_mixed(url: str, entries: list[Entry], batch: int) -> dict[str, Any]:
    """Send ``entries`` in batches; check each answer against what each entry is."""
    statuses: Counter[str] = Counter()
    per_kind: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    reasons: dict[str, str] = {}
    problems: list[str] = []
    accepted = duplicate = valid_rejected = 0
    for start in range(0, len(entries), batch):
        chunk = entries[start : start + batch]
        body = '{"events": [' + ", ".join(e.text for e in chunk) + "]}"
        status, answer = _post(url, body.encode("utf-8"))
        statuses[str(status)] += 1
        if status != 200 or not isinstance(answer, dict):
            problems.append(f"batch at {start}: {status} {str(answer)[:300]}")
            continue
        accepted += answer["accepted"]
        duplicate += answer["duplicate"]
        n_valid = sum(e.kind is None for e in chunk)
        if answer["accepted"] != n_valid or answer["duplicate"]:
            problems.append(
                f"batch at {start}: accepted {answer['accepted']} and duplicate "
                f"{answer['duplicate']} of {n_valid} valid events"
            )
        rejected = {r["index"]: r for r in answer["rejections"]}
        for index, entry in enumerate(chunk):
            found = rejected.get(index)
            if entry.kind is None:
                if found is not None:
                    valid_rejected += 1
                    problems.append(f"valid event {entry.event_id} rejected: {found}")
                continue
            tally = per_kind[entry.kind]
            tally["sent"] += 1
            if found is None:
                tally["accepted"] += 1
                if tally["accepted"] == 1:
                    problems.append(f"{entry.kind} accepted: {entry.text[:200]}")
                continue
            tally["rejected"] += 1
            tally["with reason"] += bool(str(found["reason"]).strip())
            tally["field named"] += found["field"] == entry.field
            reasons.setdefault(entry.kind, f"{found['field']}: {found['reason']}"[:200])
            if found["field"] != entry.field and tally["rejected"] - tally["field named"] == 1:
                problems.append(f"{entry.kind}: field {found['field']!r}, not {entry.field!r}")
    return {
        "statuses": dict(statuses),
        "accepted": accepted,
        "duplicate": duplicate,
        "valid_rejected": valid_rejected,
        "kinds": {
            kind: {**tally, "example": reasons.get(kind)} for kind, tally in per_kind.items()
        },
        "problems": problems,
    }


def unparseable_bodies() -> dict[str, bytes | Iterator[bytes] | tuple[bytes, str]]:
    """Bodies that cannot be read as a batch of events (a tuple: with its content type)."""
    event = b'{"event_id": "u8", "user": "u1", "item": "i1"}'
    big = json.dumps({"events": [{"event_id": "big", "user": "x" * 1_000_000, "item": "i"}]})
    big_bytes = big.encode()
    over = {
        "events": [{"event_id": f"over-{i}", "user": "u1", "item": "i1"} for i in range(10_001)]
    }
    return {
        "invalid UTF-8": b'{"events": [{"event_id": "\xff\xfe\xfa", "user": "u1", "item": "i1"}]}',
        "invalid UTF-8 outside strings": b'{"events": [' + event + b"]}\xc3\x28",
        "a 1 MB string": big_bytes,
        "a 1 MB string, chunked": (
            big_bytes[i : i + 65_536] for i in range(0, len(big_bytes), 65_536)
        ),
        "10,001 events": json.dumps(over, separators=(",", ":")).encode(),
        "truncated JSON": b'{"events": [' + event[:30],
        "an empty body": b"",
        "top level a list": b"[" + event + b"]",
        "top level a string": b'"events"',
        "top level null": b"null",
        "events not a list": b'{"events": {"0": ' + event + b"}}",
        "events missing": b'{"event": [' + event + b"]}",
        "text/plain": (b'{"events": [' + event + b"]}", "text/plain"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--malformed", type=int, default=10_000)
    parser.add_argument("--valid", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_ROOT))

    from freshrec.jobs.report import machine_summary
    from freshrec.log import Cursor, open_log
    from freshrec.persist import atomic_write_text
    from freshrec.serving.embedded import EmbeddedService
    from freshrec.serving.run import serve_in_thread

    rng = np.random.default_rng(args.seed)
    now = time.time()
    kinds = list(KINDS)
    drawn = rng.integers(len(kinds), size=args.malformed)
    entries = [valid_event(i, rng, now) for i in range(args.valid)]
    entries += [malformed_event(i, kinds[k], rng, now) for i, k in enumerate(drawn)]
    entries = [entries[i] for i in rng.permutation(len(entries))]
    valid_ids = [e.event_id for e in entries if e.kind is None]

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        service = EmbeddedService(folder, "popular", learn=False)
        with serve_in_thread(service.app()) as url:
            mixed = send_mixed(url, entries, args.batch)
            mixed_s = time.perf_counter() - started
            unparseable = {}
            for name, body in unparseable_bodies().items():
                payload, kind = body if isinstance(body, tuple) else (body, "application/json")
                status, answer = _post(url, payload, kind)
                unparseable[name] = {"status": status, "answer": str(answer)[:200]}
        log = open_log(service.log_url)
        stored = Counter(log.window(Cursor.START).event_id.tolist())
        log.close()
        service = EmbeddedService(folder, "popular", learn=False)  # the probe, on a new server
        with serve_in_thread(service.app()) as url:
            probe_body = '{"events": [{"event_id": "probe-ok", "user": "u1", "item": "i1"}, '
            probe_body += f'{{"event_id": {2**64}, "user": "u1", "item": "i1"}}]}}'
            probe_status, probe_answer = _post(url, probe_body.encode())
        log = open_log(service.log_url)
        probe_stored = "probe-ok" in set(log.window(Cursor.START).event_id.tolist())
        log.close()
    seconds = time.perf_counter() - started

    n_malformed_rejected = sum(k.get("rejected", 0) for k in mixed["kinds"].values())
    kinds_ok = all(
        k.get("sent", 0)
        == k.get("rejected", 0)
        == k.get("with reason", 0)
        == k.get("field named", 0)
        for k in mixed["kinds"].values()
    )
    missing = set(valid_ids) - set(stored)
    unexpected = set(stored) - set(valid_ids)
    checks = {
        "no answer >= 500 (mixed batches)": all(
            s != "None" and int(s) < 500 for s in mixed["statuses"]
        ),
        "every malformed event rejected, with a reason naming its field": kinds_ok
        and n_malformed_rejected == args.malformed,
        "no valid event rejected": mixed["valid_rejected"] == 0,
        "accepted == the valid events of each batch, no duplicate": not any(
            p.startswith("batch at") for p in mixed["problems"]
        )
        and mixed["accepted"] == args.valid,
        "every valid event_id in the log, once": not missing
        and all(stored[i] == 1 for i in valid_ids),
        "nothing else in the log": not unexpected,
        "every unparseable body answered 4xx": all(
            u["status"] is not None and 400 <= u["status"] < 500 for u in unparseable.values()
        ),
        "probe: an event_id beyond 64 bits is rejected, no 5xx": probe_status is not None
        and probe_status < 500,
    }
    report = {
        "command": " ".join(["python benchmarks/malformed_events.py", *(argv or sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_summary(),
        "seed": args.seed,
        "events": {"malformed": args.malformed, "valid": args.valid, "batch": args.batch},
        "seconds": {"mixed_batches": round(mixed_s, 1), "total": round(seconds, 1)},
        "checks": checks,
        "passed": all(checks.values()),
        "mixed": {
            "batch_statuses": mixed["statuses"],
            "accepted": mixed["accepted"],
            "duplicate": mixed["duplicate"],
            "malformed_rejected": n_malformed_rejected,
            "valid_rejected": mixed["valid_rejected"],
            "problems": mixed["problems"][:50],
        },
        "kinds": mixed["kinds"],
        "unparseable": unparseable,
        "log": {
            "stored": sum(stored.values()),
            "distinct": len(stored),
            "valid_missing": len(missing),
            "unexpected": len(unexpected),
            "unexpected_examples": sorted(map(str, unexpected))[:10],
            "stored_more_than_once": sum(n > 1 for n in stored.values()),
        },
        "probe_event_id_beyond_64_bits": {
            "status": probe_status,
            "answer": str(probe_answer)[:300],
            "valid_event_of_the_batch_stored": probe_stored,
        },
    }
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")

    print("| kind | field | sent | rejected | with reason | field named | example |")
    print("|---|---|---|---|---|---|---|")
    for kind, tally in mixed["kinds"].items():
        cells = " | ".join(str(tally.get(c, 0)) for c in ("sent", "rejected", "with reason"))
        print(
            f"| {kind} | {KINDS[kind][0]} | {cells} | {tally.get('field named', 0)} | "
            f"{tally.get('example')} |"
        )
    print("\n| unparseable body | status |\n|---|---|")
    for name, found in unparseable.items():
        print(f"| {name} | {found['status']} |")
    print("\n| check | pass |\n|---|---|")
    for name, ok in checks.items():
        print(f"| {name} | {'yes' if ok else 'NO'} |")
    print(
        f"\nmixed: {args.malformed} malformed + {args.valid} valid in batches of {args.batch}: "
        f"statuses {mixed['statuses']}, accepted {mixed['accepted']}, rejected malformed "
        f"{n_malformed_rejected}; log: {sum(stored.values())} stored; probe: {probe_status}, "
        f"its valid event stored: {probe_stored}; {seconds:.0f} s; written to {args.out}"
    )
    for problem in mixed["problems"][:20]:
        print("problem:", problem)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
