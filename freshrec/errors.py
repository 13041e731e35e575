"""Errors raised by freshrec.

Every error that concerns input data names where the problem is, so a user can fix
the file instead of guessing.
"""

from __future__ import annotations

__all__ = ["DataError", "DivergedError", "FreshrecError", "NotFittedError"]


class FreshrecError(Exception):
    """Base class of every freshrec error."""


class DataError(FreshrecError, ValueError):
    """Invalid input data: names the file, line (1-based), field and reason.

    Examples
    --------
    >>> err = DataError("rating is not a number: 'x'", file="u.data", line=7, field="rating")
    >>> str(err)
    "u.data, line 7, field 'rating': rating is not a number: 'x'"
    >>> err.line
    7
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.field = field
        where = [
            part
            for part in (
                file,
                f"line {line}" if line is not None else None,
                f"field {field!r}" if field is not None else None,
            )
            if part
        ]
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)


class NotFittedError(FreshrecError, RuntimeError):
    """A model was asked to score or save before it learned from any event.

    Examples
    --------
    >>> raise NotFittedError("MostPopular has not seen any event; call fit first")
    Traceback (most recent call last):
    ...
    freshrec.errors.NotFittedError: MostPopular has not seen any event; call fit first
    """


class DivergedError(FreshrecError, ArithmeticError):
    """Learning made a parameter NaN or infinite (a step size too large, or negative).

    Examples
    --------
    >>> raise DivergedError("BPR diverged: 12 of 64 values of user_factors_ are NaN")
    Traceback (most recent call last):
    ...
    freshrec.errors.DivergedError: BPR diverged: 12 of 64 values of user_factors_ are NaN
    """
