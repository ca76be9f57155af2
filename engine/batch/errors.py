"""The batch path's error: a run that cannot start or that its database failed."""

from tierwise.errors import TierwiseError


class BatchError(TierwiseError):
    """A batch run that cannot start (an unreadable file, an unknown format, a bad table)
    or whose database failed a step; the message names the place."""


def first_line(error: Exception) -> str:
    """An error's first line: the driver's message without its context (DuckDB's
    `LINE 1: ...` query excerpt, PostgreSQL's `DETAIL`), or its type when it has none."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
