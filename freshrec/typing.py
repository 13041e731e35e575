"""Type aliases shared across freshrec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

UserId = int | str
ItemId = int | str
Context = Mapping[str, float | str]
RowInit = Literal["normal", "zero", "mean"]  # how new or reused table rows start

__all__ = ["Context", "ItemId", "RowInit", "UserId"]
