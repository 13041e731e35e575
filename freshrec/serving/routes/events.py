"""``POST /v1/events``: events into the log, each checked on its own, idempotent by id."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from freshrec.data.batch import EventBatch
from freshrec.log.results import Rejection
from freshrec.serving.deps import Context, Ctx, require
from freshrec.serving.ingest import parse_events
from freshrec.serving.schemas import EventsAnswer, EventsIn, RejectedEvent

router = APIRouter(tags=["events"])


@router.post(
    "/v1/events",
    response_model=EventsAnswer,
    dependencies=[Depends(require("ingest"))],
    responses={413: {"description": "Too many events in one batch."}},
)
def post_events(body: EventsIn, ctx: Ctx) -> EventsAnswer:
    """Append the batch's valid, new events to the log; answer what became of each."""
    settings = ctx.settings
    if len(body.events) > settings.max_batch_events:
        raise HTTPException(
            413, f"{len(body.events)} events in one batch; at most {settings.max_batch_events}"
        )
    parsed = parse_events(body.events, max_future_s=settings.max_future_s)
    rejections = list(parsed.rejections)
    accepted = duplicate = 0
    log = ctx.store.log
    for run, index in parsed.runs():
        kept = [i for i, event in enumerate(run) if ctx.rate_limit.allow(event.user)]
        for i in sorted(set(range(len(run))) - set(kept)):
            rejections.append(Rejection(index[i], run[i].event_id, "user", _rate_reason(ctx)))
        if not kept:
            continue
        result = log.append(EventBatch.from_events([run[i] for i in kept]))
        accepted += result.accepted
        duplicate += result.duplicate
        for refused in result.rejections:
            place = index[kept[refused.position]]
            rejections.append(Rejection(place, refused.event_id, refused.field, refused.reason))
    if accepted:
        ctx.store.notify()
    rejections.sort(key=lambda r: r.position)
    for outcome, count in (("accepted", accepted), ("duplicate", duplicate)):
        ctx.metrics.events.labels(outcome=outcome).inc(count)
    ctx.metrics.events.labels(outcome="rejected").inc(len(rejections))
    return EventsAnswer(
        accepted=accepted,
        duplicate=duplicate,
        rejected=len(rejections),
        rejections=[
            RejectedEvent(index=r.position, event_id=r.event_id, field=r.field, reason=r.reason)
            for r in rejections
        ],
        cursor=str(log.head()),
    )


def _rate_reason(ctx: Context) -> str:
    limit = ctx.rate_limit
    return f"rate limit: this user sent more than {limit.burst} events at {limit.per_s:g}/s"
