"""``/healthz`` (the process answers), ``/readyz`` (a version is serving), ``/metrics``."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, HTTPException, Response

from freshrec.serving.deps import Ctx

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "No model version is serving yet."}})
def readyz(ctx: Ctx) -> dict[str, str]:
    """Ready once a model version is serving."""
    serving = ctx.store.current()
    if serving is None:
        raise HTTPException(503, "no model version is serving yet")
    return {"status": "ready", "version": serving.version}


@router.get("/metrics", response_class=Response)
def metrics(ctx: Ctx) -> Response:
    """Prometheus metrics: latency, events, lags, the serving version, guard decisions."""
    m, store = ctx.metrics, ctx.store
    lag = ctx.learner_lag()
    if lag is not None:
        m.learner_lag.set(lag)
    m.user_state_lag.set(store.user_state_lag())
    serving = store.current()
    m.serving.clear()
    if serving is not None:
        m.serving.labels(version=serving.version).set(1)
    decisions = Counter(record["action"] for record in store.registry.journal())
    for decision in ("promote", "reject", "rollback"):
        m.guard.labels(decision=decision).set(decisions[decision])
    m.refused.set(len(store.refusals))
    return Response(m.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
