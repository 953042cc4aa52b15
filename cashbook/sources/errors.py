"""Input errors that name what and where, so a bad row is fixed at its origin, never guessed at."""

from __future__ import annotations


class SourceError(ValueError):
    """Bad input: `where` is `file:line` (or an API request), `reason` says what is wrong."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Errors cross process boundaries (parallel export ingestion): rebuild from where and reason.
        return type(self), (self.where, self.reason)
