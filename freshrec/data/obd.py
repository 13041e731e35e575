"""Loader for the Open Bandit Dataset (ZOZOTOWN; Saito et al., 2020): logs with propensities.

Layout: ``{policy}/{campaign}/{campaign}.csv`` (one logged round per row) and
``{policy}/{campaign}/item_context.csv``, with ``policy`` ``random`` (uniform) or ``bts``
(Bernoulli Thompson sampling) and ``campaign`` ``all``, ``men`` or ``women``.

Each round becomes one event: ``user`` is the round's index (the data has no user ids;
rounds are independent contexts), ``item`` the shown item, ``value`` the click (1/0),
``timestamp`` the ISO time, ``propensity`` the logging policy's probability of showing that
item at that position, ``event_id`` the round index, and ``context`` the ``position``
(1-3), the four hashed user features and the user-item affinities. The items' side table
holds ``item_feature_0`` (numeric) and ``item_feature_1..3`` (hashed categories).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from freshrec.data.dataset import Dataset, SideTable
from freshrec.data.parsing import Mode
from freshrec.data.tabular import load_table

__all__ = ["OBD_CAMPAIGNS", "OBD_POLICIES", "load_open_bandit"]

OBD_POLICIES = ("random", "bts")
OBD_CAMPAIGNS = ("all", "men", "women")


def load_open_bandit(
    path: str | os.PathLike[str],
    policy: str = "random",
    campaign: str = "all",
    *,
    mode: Mode = "strict",
) -> Dataset:
    """Load one (policy, campaign) log of the Open Bandit Dataset folder ``path``.

    Bad rows raise :class:`~freshrec.errors.DataError` naming the file, line and field
    (``mode="strict"``) or are skipped and counted (``"lenient"``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> folder = root / "random" / "men"
    >>> folder.mkdir(parents=True)
    >>> _ = (folder / "men.csv").write_text(
    ...     ",timestamp,item_id,position,click,propensity_score,user_feature_0,"
    ...     "user-item_affinity_0\\n"
    ...     "0,2019-11-24 00:00:00.1+00:00,3,1,0,0.0294,abc,0.5\\n"
    ...     "1,2019-11-24 00:00:01.2+00:00,5,2,1,0.0294,def,0.0\\n")
    >>> _ = (folder / "item_context.csv").write_text(
    ...     ",item_id,item_feature_0,item_feature_1\\n0,3,0.1,x\\n1,5,-0.2,y\\n")
    >>> data = load_open_bandit(root, "random", "men")
    >>> data.events.item.tolist(), data.events.value.tolist(), data.events.propensity.tolist()
    ([3, 5], [0.0, 1.0], [0.0294, 0.0294])
    >>> data.events.context["position"].tolist(), data.items.row(5)["item_feature_1"]
    ([1.0, 2.0], 'y')
    """
    if policy not in OBD_POLICIES:
        raise ValueError(f"policy must be one of {OBD_POLICIES}, got {policy!r}")
    if campaign not in OBD_CAMPAIGNS:
        raise ValueError(f"campaign must be one of {OBD_CAMPAIGNS}, got {campaign!r}")
    folder = Path(path) / policy / campaign
    log = folder / f"{campaign}.csv"
    header = log.open(encoding="utf-8").readline().rstrip("\n").split(",")
    context = [c for c in header if c == "position" or c.startswith(("user_feature", "user-item"))]
    data = load_table(
        log,
        {"user": header[0], "item": "item_id", "value": "click", "timestamp": "timestamp"},
        mode=mode,
        timestamp_format="iso8601",
        context=[*context, "propensity_score"],
        id_kind="int",
        name=f"obd-{policy}-{campaign}",
    )
    columns = dict(data.events.context or {})
    propensity = np.asarray(columns.pop("propensity_score"), dtype=np.float64)
    events = data.events.with_columns(
        propensity=propensity, event_id=np.asarray(data.events.user), context=columns
    )
    return Dataset(
        data.name, events, items=_item_table(folder / "item_context.csv"), report=data.report
    )


def _item_table(path: Path) -> SideTable:
    """``item_context.csv`` as a side table keyed by ``item_id``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:] if line]
    position = header.index("item_id")
    ids = np.array([int(row[position]) for row in rows], dtype=np.int64)
    columns: dict[str, np.ndarray] = {}
    for index, name in enumerate(header):
        if not name.startswith("item_feature"):
            continue
        values = [row[index] for row in rows]
        try:
            columns[name] = np.array([float(v) for v in values])
        except ValueError:
            columns[name] = np.array(values, dtype=object)
    return SideTable(ids, columns)
