"""``GET /dashboard``: one server-rendered page for people watching the service.

The serving version and since when, the registry's labels and recent decisions, charts of
the last ten minutes (the users' state lag, the learner's lag, requests per second, p50 and
p99 latency; drawn here as inline SVG from :class:`~freshrec.serving.history.History`), and
a box asking for a user's recommendations. Nothing is loaded from elsewhere: the styles and
the few lines of script that refresh the page every 5 s are inline. Every string the page
shows that came from outside (a user id, an item, a journal reason) is escaped.
"""

from __future__ import annotations

import html
import math
import string
import time
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from itertools import groupby
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from freshrec.serving.deps import Ctx, require
from freshrec.serving.history import Sample
from freshrec.serving.store import ModelStore

router = APIRouter(tags=["dashboard"], dependencies=[Depends(require("read"))])

_DECISIONS = ("publish", "promote", "reject", "rollback")  # the journal's actions shown
_SHOWN = 15  # decisions in the table, newest first
_WIDTH, _HEIGHT = 420, 150  # a chart's SVG coordinates
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 8, 14, 18  # its margins around the plot
_LABEL = 46  # the width a version's label takes on a chart


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    ctx: Ctx,
    user: Annotated[str | None, Query(max_length=256)] = None,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> HTMLResponse:
    """The dashboard page; with ``user``, that user's ``k`` recommendations too.

    Examples
    --------
    >>> import tempfile
    >>> from fastapi.testclient import TestClient
    >>> from freshrec.live import Registry
    >>> from freshrec.log import open_log
    >>> from freshrec.serving.app import create_app
    >>> store = ModelStore(Registry(tempfile.mkdtemp()), open_log("memory://"))
    >>> with TestClient(create_app(store)) as client:
    ...     page = client.get("/dashboard?user=u1").text
    >>> "No model version is serving yet" in page
    True
    """
    store = ctx.store
    journal = store.registry.journal()
    page = _template().substitute(
        summary=_summary(store, journal),
        charts=_charts(ctx.metrics.history.samples()),
        decisions=_decisions(journal),
        user=html.escape(user or ""),
        k=k,
        answer=_answer(store, user, k) if user else "",
    )
    return HTMLResponse(page)


@cache
def _template() -> string.Template:
    page = resources.files("freshrec.serving").joinpath("dashboard.html")
    return string.Template(page.read_text(encoding="utf-8"))


# -- the header: what serves, since when, the labels ----------------------------------------
def _summary(store: ModelStore, journal: list[dict[str, Any]]) -> str:
    serving = store.current()
    if serving is None:
        status = '<span class="pill none">No model version is serving yet</span>'
    else:
        version = html.escape(serving.version)
        status = (
            f'<span class="pill version" id="version">{version}</span>'
            f'<span class="since">{_since(store, serving.version, journal)}</span>'
        )
    labels = " · ".join(
        f"{name} <b>{html.escape(version or '—')}</b>"
        for name, version in store.registry.labels().items()
    )
    return (
        f'<div id="summary" data-live>{status}<span class="labels">{labels}</span>'
        f'<span class="updated">updated {_clock(time.time())}</span></div>'
    )


def _since(store: ModelStore, version: str, journal: list[dict[str, Any]]) -> str:
    """When this replica started serving ``version`` (the store's swaps), or else when the
    registry made it stable (its journal)."""
    # a copy in one step: the store's thread appends to its swaps meanwhile
    swaps: list[tuple[str, float]] = list(getattr(store, "swap_history", []))
    started = next((at for name, at in reversed(swaps) if name == version), None)
    if started is not None:
        return f"serving since {_clock(started)} ({_ago(started)})"
    made_stable = next(
        (
            record["time"]
            for record in reversed(journal)
            if record.get("action") in ("promote", "rollback") and record.get("version") == version
        ),
        None,
    )
    if made_stable is None:
        return "serving"
    return f"stable since {_clock(made_stable)} ({_ago(made_stable)})"


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _ago(at: float) -> str:
    seconds = max(time.time() - at, 0.0)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


# -- the registry's decisions ---------------------------------------------------------------
def _decisions(journal: list[dict[str, Any]]) -> str:
    shown = [record for record in journal if record.get("action") in _DECISIONS][-_SHOWN:]
    rows = "".join(_decision_row(record) for record in reversed(shown))
    if not rows:
        rows = '<tr><td colspan="5" class="note">No decisions recorded yet.</td></tr>'
    return (
        '<section class="card" id="decisions" data-live><h2>Registry decisions</h2>'
        "<table><thead><tr><th>time</th><th>decision</th><th>version</th><th>reason</th>"
        f"<th>key figure</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _decision_row(record: dict[str, Any]) -> str:
    action = html.escape(str(record["action"]))
    reason = html.escape(str(record.get("reason") or ""))
    return (
        f"<tr><td>{_clock(float(record.get('time', 0.0)))}</td>"
        f'<td><span class="action {action}">{action}</span></td>'
        f'<td class="mono">{html.escape(str(record.get("version")))}</td>'
        f'<td class="reason" title="{reason}">{reason}</td>'
        f'<td class="mono">{html.escape(_key_figure(record))}</td></tr>'
    )


def _key_figure(record: dict[str, Any]) -> str:
    """The candidate's own figure when the guard measured one, else the record's gist."""
    metrics: dict[str, Any] = record.get("metrics") or {}
    names = [name for name in metrics if name.startswith("candidate_")] or list(metrics)
    if names:
        value = metrics[names[0]]
        return f"{names[0]} {value:.4g}" if isinstance(value, int | float) else names[0]
    if record["action"] == "publish" and "n_events" in record:
        return f"{record['n_events']:,} events learned"
    if record["action"] == "rollback" and record.get("rolled_back"):
        return f"from {record['rolled_back']}"
    return ""


# -- the user box ---------------------------------------------------------------------------
def _answer(store: ModelStore, text: str, k: int) -> str:
    user = store.resolve_user(text)
    try:
        found = store.recommend(user, k)
    except LookupError:
        return '<p class="note warn">No model version is serving yet: nothing to recommend.</p>'
    seen = len(store.seen_items(user))
    who = f'<span class="mono">{html.escape(str(user))}</span>'
    if seen:
        note = f"{who} · {seen} items seen, left out · from {html.escape(found.version)}"
    else:
        note = f"{who} has no events in the log: the model's answer for a new user"
    items = [scored for scored in found.items if math.isfinite(scored.score)]
    rows = "".join(
        f'<tr><td class="num">{rank}</td><td class="mono">{html.escape(str(scored.item))}</td>'
        f'<td class="num">{scored.score:.4f}</td></tr>'
        for rank, scored in enumerate(items, start=1)
    )
    if not rows:
        rows = (
            '<tr><td colspan="3" class="note">Nothing left to recommend: this user has seen '
            "every item the model knows.</td></tr>"
        )
    return (
        f'<p class="note" id="answer-note">{note}</p><table id="answer"><thead><tr><th>#</th>'
        f'<th>item</th><th class="num">score</th></tr></thead><tbody>{rows}</tbody></table>'
    )


# -- the charts -----------------------------------------------------------------------------
class _Line(NamedTuple):
    name: str
    colour: str  # a class of the page's style sheet
    value: Callable[[Sample], float | None]


def _charts(samples: Sequence[Sample]) -> str:
    charts = [
        _chart(
            "Freshness: users' state lag",
            "events",
            samples,
            [_Line("behind the log", "blue", lambda s: s.gauges.user_state_lag)],
        ),
        _chart(
            "Learner lag",
            "events",
            samples,
            [_Line("not learned", "amber", lambda s: s.gauges.learner_lag)],
        ),
        _chart("Requests", "req/s", samples, [_Line("rate", "green", lambda s: s.rate)]),
        _chart(
            "Latency",
            "ms",
            samples,
            [
                _Line("p50", "blue", lambda s: None if s.p50_s is None else s.p50_s * 1e3),
                _Line("p99", "red", lambda s: None if s.p99_s is None else s.p99_s * 1e3),
            ],
        ),
    ]
    return f'<section id="charts" data-live>{"".join(charts)}</section>'


def _chart(title: str, unit: str, samples: Sequence[Sample], lines: Sequence[_Line]) -> str:
    """A card with a line chart of ``lines`` over ``samples`` and their latest values."""
    values = [[line.value(s) for s in samples] for line in lines]
    known = [v for series in values for v in series if v is not None]
    legend = "".join(
        f'<i class="{line.colour}"></i>{line.name} <b>{_latest(series)}</b>'
        for line, series in zip(lines, values, strict=True)
    )
    if not known:
        body = _empty("no samples yet" if not samples else "not known in this process")
    else:
        top = _nice(max(known))
        times = [s.time for s in samples]
        body = _axes(times, top, unit) + _swaps(samples) + _polylines(lines, times, values, top)
    return (
        f'<figure class="card"><figcaption><h2>{title}</h2><span class="legend">{legend}'
        f'</span></figcaption><svg viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{title}">{body}</svg></figure>'
    )


def _latest(series: list[float | None]) -> str:
    value = series[-1] if series else None
    return "—" if value is None else _number(value)


def _number(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2g}"


def _nice(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (1 at least)."""
    if value <= 1:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _x(at: float, times: Sequence[float]) -> float:
    span = times[-1] - times[0]
    share = (at - times[0]) / span if span > 0 else 1.0
    return _LEFT + share * (_WIDTH - _LEFT - _RIGHT)


def _y(value: float, top: float) -> float:
    return _HEIGHT - _BOTTOM - value / top * (_HEIGHT - _TOP - _BOTTOM)


def _axes(times: Sequence[float], top: float, unit: str) -> str:
    """Grid lines at 0, half and the top, labelled; the first and last sample's times."""
    parts = []
    for value in (0.0, top / 2, top):
        y = _y(value, top)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{_WIDTH - _RIGHT}" y2="{y:.1f}"/>'
            f'<text x="{_LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{_number(value)}</text>'
        )
    bottom = _HEIGHT - 4
    parts.append(
        f'<text x="{_LEFT}" y="{bottom}">{_clock(times[0])}</text>'
        f'<text x="{_WIDTH - _RIGHT}" y="{bottom}" text-anchor="end">{_clock(times[-1])}</text>'
        f'<text x="{(_LEFT + _WIDTH) / 2:.0f}" y="{bottom}" text-anchor="middle">{unit}</text>'
    )
    return "".join(parts)


def _swaps(samples: Sequence[Sample]) -> str:
    """A dashed line where the serving version changed, labelled with the new version where
    the label has room."""
    times = [s.time for s in samples]
    parts, free_from = [], 0.0  # where the next label may start
    for before, after in zip(samples, samples[1:], strict=False):
        version = after.gauges.version
        if version == before.gauges.version or version is None:
            continue
        x = _x(after.time, times)
        parts.append(
            f'<line class="swap" x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{_HEIGHT - _BOTTOM}"/>'
        )
        if x >= free_from and x + _LABEL <= _WIDTH:
            parts.append(
                f'<text class="swap" x="{x + 2:.1f}" y="{_TOP - 3}">{html.escape(version)}</text>'
            )
            free_from = x + _LABEL
    return "".join(parts)


def _polylines(
    lines: Sequence[_Line], times: Sequence[float], values: list[list[float | None]], top: float
) -> str:
    """Each line as polylines, broken where a value is unknown."""
    parts = []
    for line, series in zip(lines, values, strict=True):
        for unknown, run in groupby(zip(times, series, strict=True), key=lambda p: p[1] is None):
            points = [f"{_x(at, times):.1f},{_y(v, top):.1f}" for at, v in run if v is not None]
            if not unknown:  # one point alone is drawn as a dot
                drawn = " ".join(points if len(points) > 1 else points * 2)
                parts.append(f'<polyline class="{line.colour}" points="{drawn}"/>')
    return "".join(parts)


def _empty(message: str) -> str:
    return (
        f'<text class="empty" x="{_WIDTH / 2:.0f}" y="{_HEIGHT / 2:.0f}" '
        f'text-anchor="middle">{message}</text>'
    )
