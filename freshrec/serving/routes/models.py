"""The registry over HTTP: ``GET /v1/models``, promote a version, roll back (scope admin)."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from freshrec.live.registry import RegistryError
from freshrec.serving.deps import Context, Ctx, require
from freshrec.serving.schemas import LabelsAnswer, ModelsAnswer, ServedOut, VersionOut

router = APIRouter(tags=["models"], dependencies=[Depends(require("admin"))])
VERSION_NAME = r"^v[0-9]{6}$"  # the registry's own names: nothing that can leave its folder


@router.get("/v1/models", response_model=ModelsAnswer)
def models(ctx: Ctx) -> ModelsAnswer:
    """Every version kept, its labels and guard figures, the version served here and
    when this server swapped in each version it served (its recent swaps)."""
    registry = ctx.store.registry
    return ModelsAnswer(
        serving=_serving(ctx),
        labels=registry.labels(),
        versions=[
            VersionOut(
                version=v.version,
                cursor=v.cursor,
                n_events=v.n_events,
                created=v.created,
                labels=list(v.labels),
                metrics={k: (x if math.isfinite(x) else None) for k, x in v.metrics.items()},
            )
            for v in registry.versions()
        ],
        served=[
            ServedOut(version=version, since=since)
            for version, since in list(ctx.store.swap_history)  # one step: no lock needed
        ],
    )


@router.post(
    "/v1/models/{version}/promote",
    response_model=LabelsAnswer,
    responses={404: {"description": "No such version."}},
)
def promote(version: Annotated[str, Path(pattern=VERSION_NAME)], ctx: Ctx) -> LabelsAnswer:
    """Make ``version`` the stable one and serve it (after the server's own checks)."""
    try:
        ctx.store.registry.promote(version, reason="promoted over HTTP")
    except RegistryError as err:
        raise HTTPException(404, str(err)) from err
    ctx.store.refresh()
    return LabelsAnswer(labels=ctx.store.registry.labels(), serving=_serving(ctx))


@router.post(
    "/v1/models/rollback",
    response_model=LabelsAnswer,
    responses={409: {"description": "No previous version to go back to."}},
)
def rollback(ctx: Ctx) -> LabelsAnswer:
    """Serve the previous stable version again."""
    try:
        ctx.store.registry.rollback(reason="rolled back over HTTP")
    except RegistryError as err:
        raise HTTPException(409, str(err)) from err
    ctx.store.refresh()
    return LabelsAnswer(labels=ctx.store.registry.labels(), serving=_serving(ctx))


def _serving(ctx: Context) -> str | None:
    serving = ctx.store.current()
    return serving.version if serving is not None else None
