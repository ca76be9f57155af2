"""The batch path's error: a run that cannot start or that its database failed."""

from tierwise.errors import TierwiseError


class BatchError(TierwiseError):
    """A batch run that cannot start (an unreadable file, an unknown format, a bad table)
    or whose database failed a step; the message names the place."""
