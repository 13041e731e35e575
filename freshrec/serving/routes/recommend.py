"""Recommendations: ``GET /v1/users/{user}/recommendations`` and ``POST /v1/recommendations``.

Monotonic reads across replicas: a client that sends ``X-Freshrec-Min-Version: v000012`` (the
highest ``model_version`` it has been answered with) is answered by version ``v000012`` or a
later one. A replica still serving an older version catches up first, waiting up to
:data:`MIN_VERSION_WAIT_S`; one that cannot by then answers 503 with ``Retry-After``, so the
client may try again or ask another replica. After a rollback (the registry's stable version
is older than the header's), the stable version answers at once. Without the header a
replica answers with whatever it serves.

Exploring (``explore: true`` in the body of ``POST /v1/recommendations``): the items are
drawn by the app's :class:`~freshrec.serving.explore.Explorer`, the answer carries their
propensities, and the decision is recorded in its decision log before the answer is sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import partial
from math import isfinite
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query
from starlette.concurrency import run_in_threadpool

from freshrec.serving.deps import Context, Ctx, require
from freshrec.serving.routes.models import VERSION_NAME
from freshrec.serving.schemas import RecommendationAnswer, RecommendationRequest, ScoredItem

MIN_VERSION_HEADER = "X-Freshrec-Min-Version"
MIN_VERSION_WAIT_S = 1.0  # longest a request waits for its replica to serve the header's version

router = APIRouter(tags=["recommendations"], dependencies=[Depends(require("read"))])
_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "No model version is serving yet, or this replica did not serve the "
        f"{MIN_VERSION_HEADER} version or a later one within {MIN_VERSION_WAIT_S:g} s."
    }
}
MinVersion = Annotated[
    str | None,
    Header(
        alias=MIN_VERSION_HEADER,
        pattern=VERSION_NAME,
        description="The highest model_version this client has been answered with: the "
        "answer comes from that version or a later one (unless the registry rolled back).",
    ),
]


@router.get(
    "/v1/users/{user:path}/recommendations",
    response_model=RecommendationAnswer,
    responses=_RESPONSES,
)
async def user_recommendations(
    ctx: Ctx,
    user: Annotated[str, Path(max_length=256)],
    k: Annotated[int, Query(ge=1, le=1000)] = 10,
    exclude_seen: bool = True,
    min_version: MinVersion = None,
) -> RecommendationAnswer:
    """The ``k`` best items for ``user`` (``exclude_seen``: not those they have events on)."""
    if min_version is not None:
        await run_in_threadpool(_await, ctx, min_version)
    return await _answer(ctx, ctx.store.resolve_user(user), k, exclude_seen, None)


@router.post("/v1/recommendations", response_model=RecommendationAnswer, responses=_RESPONSES)
async def recommendations(
    body: RecommendationRequest, ctx: Ctx, min_version: MinVersion = None
) -> RecommendationAnswer:
    """The ``k`` best items for the request's user, among ``candidates`` when given (with
    ``explore``: ``k`` items drawn by a softmax policy over their scores, with their
    propensities, the decision logged). The context is accepted for policies that use it;
    the models served here do not."""
    if min_version is not None:
        await run_in_threadpool(_await, ctx, min_version)
    if body.explore:
        return await run_in_threadpool(_explore, ctx, body)
    return await _answer(ctx, body.user, body.k, body.exclude_seen, body.candidates)


def _explore(ctx: Context, body: RecommendationRequest) -> RecommendationAnswer:
    """An exploring answer, recorded (in the threadpool: the record is a durable write)."""
    recommendation_id = uuid.uuid4().hex
    try:
        explored = ctx.explorer.recommend(
            body.user,
            body.k,
            recommendation_id=recommendation_id,
            exclude_seen=body.exclude_seen,
            candidates=body.candidates,
        )
    except LookupError as err:
        raise HTTPException(503, str(err)) from err
    found = explored.recommendation
    decision = explored.decision
    return RecommendationAnswer(
        user=body.user,
        items=[ScoredItem(item=s.item, score=s.score) for s in found.items],
        recommendation_id=recommendation_id,
        model_version=found.version,
        model_cursor=found.model_cursor,
        user_cursor=found.user_cursor,
        propensities=[] if decision is None else decision.propensities.tolist(),
    )


def _await(ctx: Context, min_version: str) -> None:
    """Wait until this replica serves ``min_version`` or later (in the threadpool: waiting
    holds only this request); 503 when it does not in time."""
    if ctx.store.await_version(min_version, MIN_VERSION_WAIT_S):
        return
    serving = ctx.store.current()
    raise HTTPException(
        503,
        f"this replica does not serve {min_version} or a later version yet (it serves "
        f"{serving.version if serving else 'none'}); try again or ask another replica",
        headers={"Retry-After": "1"},
    )


async def _answer(
    ctx: Context, user: Any, k: int, exclude_seen: bool, candidates: Sequence[Any] | None
) -> RecommendationAnswer:
    """The store's answer: on the event loop when it is quick and the store free (a trip
    through the threadpool costs about a third of a request's CPU), else in a thread."""
    store = ctx.store
    try:
        found = store.try_recommend(user, k, exclude_seen=exclude_seen, candidates=candidates)
        if found is None:
            found = await run_in_threadpool(
                partial(store.recommend, exclude_seen=exclude_seen, candidates=candidates), user, k
            )
    except LookupError as err:
        raise HTTPException(503, str(err)) from err
    return RecommendationAnswer(
        user=user,
        items=[ScoredItem(item=s.item, score=s.score) for s in found.items if isfinite(s.score)],
        recommendation_id=uuid.uuid4().hex,
        model_version=found.version,
        model_cursor=found.model_cursor,
        user_cursor=found.user_cursor,
    )
