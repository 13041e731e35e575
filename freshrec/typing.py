"""Type aliases shared across freshrec."""

from __future__ import annotations

from collections.abc import Mapping

UserId = int | str
ItemId = int | str
Context = Mapping[str, float | str]

__all__ = ["Context", "ItemId", "UserId"]
