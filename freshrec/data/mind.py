"""Loader for MIND (Microsoft News) impression logs: ``behaviors.tsv`` plus ``news.tsv``.

Each line of ``behaviors.tsv`` is one impression: ``impression_id user time history
impressions``, tab-separated, where ``impressions`` lists the shown news as ``newsid-label``
(1 clicked, 0 shown but not clicked). Every shown news becomes one event, with value 1.0 or
0.0, so an implicit model keeps the clicks with ``value >= 1`` (see DESIGN.md, "value").
``time`` is "M/D/YYYY h:mm:ss AM/PM"; it is read as UTC (the dataset does not say).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from freshrec.data.batch import EventBatch
from freshrec.data.dataset import Dataset, LoadReport, SideTable
from freshrec.data.parsing import Field, Mode, RowParser, check_mode, read_delimited

__all__ = ["MIND_TIME_FORMAT", "load_mind"]

#: :func:`~datetime.datetime.strptime` pattern of the ``time`` column.
MIND_TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"

_BEHAVIOR_FIELDS = (
    Field("impression_id", "int"),
    Field("user", "str"),
    Field("time", "datetime", fmt=MIND_TIME_FORMAT),
    Field("history", "tokens", required=False),
    Field("impressions", "tokens"),
)
_NEWS_FIELDS = (
    Field("item", "str"),
    Field("category", "str"),
    Field("subcategory", "str", required=False),
    Field("title", "str", required=False),
    Field("abstract", "str", required=False),
    None,  # url
    None,  # title entities (JSON)
    None,  # abstract entities (JSON)
)


def load_mind(
    path: str | os.PathLike[str], *, mode: Mode = "strict", history: bool = True
) -> Dataset:
    """Load a MIND folder (``behaviors.tsv``, optional ``news.tsv``).

    Parameters
    ----------
    path
        Folder such as ``MINDsmall_train/``.
    mode
        ``"strict"`` raises :class:`~freshrec.errors.DataError` on the first bad impression
        line (naming file, line and field); ``"lenient"`` skips it whole and counts it in
        ``dataset.report``. The report counts impression lines, not events.
    history
        Expose each user's click history (from their first impression line) as
        ``dataset.users["history"]``, a tuple of news ids; ``False`` leaves ``users=None``.

    Returns
    -------
    Dataset
        ``events``: one per shown news, in file order: user, item (news id), value (1.0
        clicked, 0.0 not), timestamp (Unix seconds), ``event_id`` ``"<impression>-<position>"``
        and ``context["impression_id"]`` (int), so the events of one impression regroup.
        ``items``: ``category``, ``subcategory``, ``title``, ``abstract`` (``None`` where
        empty) for the news in ``news.tsv``, which may cover only some of the shown news.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "behaviors.tsv").write_text(
    ...     "7\\tU1\\t11/11/2019 9:05:58 AM\\tN1 N2\\tN3-1 N4-0\\n")
    >>> _ = (folder / "news.tsv").write_text("N3\\tsports\\tgolf\\tPar\\t\\turl\\t[]\\t[]\\n")
    >>> ds = load_mind(folder)
    >>> ds.events.item.tolist(), ds.events.value.tolist(), ds.events.event_id.tolist()
    (['N3', 'N4'], [1.0, 0.0], ['7-0', '7-1'])
    >>> ds.items.row("N3")["title"], ds.users.row("U1")["history"]
    ('Par', ('N1', 'N2'))
    """
    check_mode(mode)
    folder = Path(path)
    report = LoadReport()
    file = folder / "behaviors.tsv"
    parser = RowParser(_BEHAVIOR_FIELDS, file=str(file), mode=mode, report=report)
    for number, raw in enumerate(file.read_bytes().splitlines(), start=1):
        if not raw.strip():
            parser.blank(number)
            continue
        try:
            tokens = raw.decode("utf-8").split("\t")
        except UnicodeDecodeError as err:
            parser.bad_line("encoding", f"cannot decode as utf-8: {err.reason}", number, None)
            continue
        if len(tokens) == len(_BEHAVIOR_FIELDS):
            problem = _bad_impression(tokens[-1])
            if problem is not None:
                parser.bad_line("impressions: not newsid-label", problem, number, "impressions")
                continue
        parser.add(tokens, number)
    columns = parser.columns()
    shown = columns["impressions"]
    counts = np.fromiter((len(s) for s in shown), dtype=np.int64, count=len(shown))
    pairs = [token.rpartition("-") for row in shown for token in row]
    impression_ids = np.repeat(columns["impression_id"], counts)
    positions = np.concatenate([np.arange(n) for n in counts]) if len(counts) else counts
    event_ids = np.array(
        [f"{i}-{p}" for i, p in zip(impression_ids.tolist(), positions.tolist(), strict=True)],
        dtype=object,
    )
    events = EventBatch(
        user=np.repeat(columns["user"], counts),
        item=np.array([news for news, _, _ in pairs], dtype=object),
        value=np.array([label == "1" for _, _, label in pairs], dtype=np.float32),
        timestamp=np.repeat(columns["time"], counts),
        context={"impression_id": impression_ids},
        event_id=event_ids,
    )
    users = None
    if history:
        first = np.unique(columns["user"], return_index=True)[1]
        first.sort()
        users = SideTable(columns["user"][first], {"history": columns["history"][first]})
    items = None
    if (folder / "news.tsv").exists():
        news = read_delimited(
            folder / "news.tsv", _NEWS_FIELDS, sep="\t", mode=mode, report=report, table="items"
        )
        items = SideTable(news.pop("item"), news)
    return Dataset("mind", events, items=items, users=users, report=report)


def _bad_impression(text: str) -> str | None:
    """Why the ``impressions`` field is malformed, or ``None`` when it is fine."""
    for token in text.split():
        news, dash, label = token.rpartition("-")
        if not dash or not news or label not in ("0", "1"):
            return f"not 'newsid-0' or 'newsid-1': {token!r}"
    return None
