"""The catalogue: ``PUT / GET / DELETE /v1/items/{item}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path

from freshrec.serving.catalogue import ItemDeletedError
from freshrec.serving.deps import Ctx, require
from freshrec.serving.schemas import ItemIn, ItemOut

router = APIRouter(tags=["items"])
ItemPath = Annotated[str, Path(min_length=1, max_length=256)]
_GONE: dict[int | str, dict[str, Any]] = {410: {"description": "The item was deleted."}}


@router.put(
    "/v1/items/{item:path}",
    response_model=ItemOut,
    dependencies=[Depends(require("admin"))],
    responses={409: {"description": "The item was deleted and cannot be put again."}},
)
def put_item(item: ItemPath, body: ItemIn, ctx: Ctx) -> ItemOut:
    """Create or replace an item; with a text it is recommendable at once (the served model
    gets a row for it from its content embedding)."""
    store = ctx.store
    found = store.resolve_item(item)
    try:
        recommendable = store.put_item(found, body.text, body.properties or {})
    except ItemDeletedError as err:
        raise HTTPException(409, str(err.args[0])) from err
    return _out(ctx, found, recommendable)


@router.get(
    "/v1/items/{item:path}",
    response_model=ItemOut,
    dependencies=[Depends(require("read"))],
    responses={404: {"description": "No such item in the catalogue."}, **_GONE},
)
def get_item(item: ItemPath, ctx: Ctx) -> ItemOut:
    """An item of the catalogue."""
    found = ctx.store.resolve_item(item)
    if ctx.store.catalogue.is_deleted(found):
        raise HTTPException(410, f"item {found!r} was deleted")
    serving = ctx.store.current()
    known = serving is not None and serving.model.item_map_.encode_one(found) >= 0
    return _out(ctx, found, known)


@router.delete("/v1/items/{item:path}", dependencies=[Depends(require("admin"))], responses=_GONE)
def delete_item(item: ItemPath, ctx: Ctx) -> dict[str, object]:
    """Delete an item: it is never recommended again and cannot be put back."""
    found = ctx.store.resolve_item(item)
    if not ctx.store.delete_item(found):
        raise HTTPException(410, f"item {found!r} was already deleted")
    return {"item": found, "deleted": True}


def _out(ctx: Ctx, item: object, recommendable: bool) -> ItemOut:
    record = ctx.store.catalogue.get(item)
    if record is None:
        raise HTTPException(404, f"no item {item!r} in the catalogue")
    return ItemOut(
        item=record["item"],
        text=record["text"],
        properties=record["properties"],
        updated=record["updated"],
        recommendable=recommendable,
    )
