"""Recommendations: ``GET /v1/users/{user}/recommendations`` and ``POST /v1/recommendations``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from math import isfinite
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from freshrec.serving.deps import Context, Ctx, require
from freshrec.serving.schemas import RecommendationAnswer, RecommendationRequest, ScoredItem

router = APIRouter(tags=["recommendations"], dependencies=[Depends(require("read"))])
_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"description": "No model version is serving yet."}
}


@router.get(
    "/v1/users/{user:path}/recommendations",
    response_model=RecommendationAnswer,
    responses=_NOT_READY,
)
def user_recommendations(
    ctx: Ctx,
    user: Annotated[str, Path(max_length=256)],
    k: Annotated[int, Query(ge=1, le=1000)] = 10,
    exclude_seen: bool = True,
) -> RecommendationAnswer:
    """The ``k`` best items for ``user`` (``exclude_seen``: not those they have events on)."""
    return _answer(ctx, ctx.store.resolve_user(user), k, exclude_seen, None)


@router.post("/v1/recommendations", response_model=RecommendationAnswer, responses=_NOT_READY)
def recommendations(body: RecommendationRequest, ctx: Ctx) -> RecommendationAnswer:
    """The ``k`` best items for the request's user, among ``candidates`` when given. The
    context is accepted for policies that use it; the models served here do not."""
    return _answer(ctx, body.user, body.k, body.exclude_seen, body.candidates)


def _answer(
    ctx: Context, user: Any, k: int, exclude_seen: bool, candidates: Sequence[Any] | None
) -> RecommendationAnswer:
    try:
        found = ctx.store.recommend(user, k, exclude_seen=exclude_seen, candidates=candidates)
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
