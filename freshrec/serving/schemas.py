"""Request and response bodies of the HTTP API (pydantic), as the OpenAPI schema shows them.

Examples
--------
>>> RecommendationRequest(user="ann").k
10
>>> EventsAnswer(accepted=1, duplicate=0, rejected=0, rejections=[], cursor="1").accepted
1
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "EventIn",
    "EventsAnswer",
    "EventsIn",
    "ItemIn",
    "ItemOut",
    "LabelsAnswer",
    "ModelsAnswer",
    "RecommendationAnswer",
    "RecommendationRequest",
    "RejectedEvent",
    "ScoredItem",
    "ServedOut",
    "VersionOut",
]

Id = str | Annotated[int, Field(ge=-(2**63), lt=2**63)]  # ids as the event log keeps them


class EventIn(BaseModel):
    """One event (DESIGN.md's Event fields): the shape of each item of ``EventsIn.events``.
    The route takes the items as any JSON and checks each on its own, so a malformed one is
    rejected with a reason, not the batch; the served schema therefore shows them as any.

    Examples
    --------
    >>> EventIn(event_id="e1", user="ann", item=7).value
    1.0
    """

    model_config = ConfigDict(extra="forbid")
    event_id: Id = Field(description="Unique id: an event sent again is a duplicate.")
    user: Id
    item: Id
    value: float = Field(1.0, description="Rating, or 1 for a click, 0 for an impression.")
    timestamp: float | None = Field(None, description="Seconds since the epoch; default: now.")
    context: dict[str, float | str] | None = None
    propensity: float | None = Field(None, description="P(shown) under the logging policy.")


class EventsIn(BaseModel):
    """A batch of events.

    Examples
    --------
    >>> len(EventsIn(events=[{"event_id": 1, "user": 1, "item": 2}]).events)
    1
    """

    events: list[Any] = Field(description="Events as objects with EventIn's fields.")


class RejectedEvent(BaseModel):
    """An event of the batch that was refused, and why.

    Examples
    --------
    >>> RejectedEvent(index=3, event_id="e3", field="value", reason="not finite: nan").field
    'value'
    """

    index: int
    event_id: Id | None
    field: str
    reason: str


class EventsAnswer(BaseModel):
    """What became of a batch: ``accepted + duplicate + rejected`` events.

    Examples
    --------
    >>> EventsAnswer(accepted=2, duplicate=1, rejected=0, rejections=[], cursor="9").duplicate
    1
    """

    accepted: int
    duplicate: int
    rejected: int
    rejections: list[RejectedEvent]
    cursor: str = Field(description="The log's head after the batch.")


class RecommendationRequest(BaseModel):
    """A recommendation request with optional candidates and context (strict: ``true`` is
    not a user id, ``"2"`` not a ``k``).

    Examples
    --------
    >>> RecommendationRequest(user=7, candidates=["a", "b"]).exclude_seen
    True
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    user: Id
    k: int = Field(10, ge=1, le=1000)
    exclude_seen: bool = True
    candidates: list[Id] | None = Field(None, max_length=10_000)
    context: dict[str, float | str] | None = None
    explore: bool = Field(
        False,
        description="Draw the items from a softmax policy over the model's scores instead "
        "of taking the best; the answer carries their propensities and the decision is "
        "logged for off-policy evaluation.",
    )


class ScoredItem(BaseModel):
    """One recommended item and its score.

    Examples
    --------
    >>> ScoredItem(item=7, score=0.5).item
    7
    """

    item: Id
    score: float


class RecommendationAnswer(BaseModel):
    """The items, best first, and what produced them.

    Examples
    --------
    >>> answer = RecommendationAnswer(user="ann", items=[ScoredItem(item="a", score=0.5)],
    ...     recommendation_id="r1", model_version="v000001", model_cursor="10", user_cursor="12")
    >>> answer.items[0].item, answer.propensities is None
    ('a', True)
    """

    user: Id
    items: list[ScoredItem]
    recommendation_id: str
    model_version: str
    model_cursor: str | None = Field(description="The log cursor the model's parameters cover.")
    user_cursor: str = Field(description="The log cursor the user's state covers.")
    propensities: list[float] | None = Field(
        default=None,
        description="With explore: for each item, the probability that the policy put it "
        "at its position, among the pool it chose from (null without explore).",
    )


class VersionOut(BaseModel):
    """One version of the registry.

    Examples
    --------
    >>> VersionOut(version="v000001", cursor="5", n_events=5, created=0.0, labels=["stable"],
    ...            metrics={"rmse": 0.9}).labels
    ['stable']
    """

    version: str
    cursor: str | None
    n_events: int
    created: float
    labels: list[str]
    metrics: dict[str, float | None] = Field(description="Guard figures; null: not finite.")


class ServedOut(BaseModel):
    """A version this server swapped in, and when.

    Examples
    --------
    >>> ServedOut(version="v000002", since=1767225600.25).since
    1767225600.25
    """

    version: str
    since: float = Field(description="Unix time this server began serving it.")


class ModelsAnswer(BaseModel):
    """The registry's versions and labels, the version this server serves and the ones it
    served before (oldest first: its recent swaps).

    Examples
    --------
    >>> ModelsAnswer(serving=None, labels={"stable": None}, versions=[]).served
    []
    """

    serving: str | None
    labels: dict[str, str | None]
    versions: list[VersionOut]
    served: list[ServedOut] = Field(
        default_factory=list,
        description="This server's swaps, oldest first: each version and when it began "
        "serving it (another replica swaps on its own).",
    )


class LabelsAnswer(BaseModel):
    """The registry's labels after a promotion or a rollback, and the version served.

    Examples
    --------
    >>> LabelsAnswer(labels={"stable": "v000002"}, serving="v000002").serving
    'v000002'
    """

    labels: dict[str, str | None]
    serving: str | None


class ItemIn(BaseModel):
    """An item of the catalogue: its text (title, description) and properties.

    Examples
    --------
    >>> ItemIn(text="The Matrix (1999)", properties={"year": 1999}).text
    'The Matrix (1999)'
    """

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, max_length=10_000)
    properties: dict[str, str | float | bool | None] | None = Field(None, max_length=100)


class ItemOut(BaseModel):
    """An item as the catalogue holds it, and whether the served model can recommend it.

    Examples
    --------
    >>> ItemOut(item="m", text=None, properties={}, updated=0.0, recommendable=False).item
    'm'
    """

    item: Id
    text: str | None
    properties: dict[str, str | float | bool | None]
    updated: float
    recommendable: bool
