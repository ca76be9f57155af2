"""Database URLs as the batch path and the adapters open them: scheme aliases, and the
PostgreSQL driver that is installed."""

from __future__ import annotations

import importlib.util

SCHEME_ALIASES = {"postgres": "postgresql"}
"""URL schemes read as another: `postgres://` is `postgresql://`."""


def with_driver(url: str) -> str:
    """`postgres://` read as `postgresql://`, and a plain `postgresql://` given the driver
    that is installed (SQLAlchemy 2.1 defaults to psycopg 3; psycopg2 is also common)."""
    scheme, _, rest = url.partition(":")
    scheme = SCHEME_ALIASES.get(scheme, scheme)
    if (
        scheme == "postgresql"
        and importlib.util.find_spec("psycopg") is None
        and importlib.util.find_spec("psycopg2") is not None
    ):
        scheme = "postgresql+psycopg2"
    return scheme + ":" + rest
