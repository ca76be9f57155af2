"""Bearer tokens: every token is compared in constant time, so timing tells nothing."""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from .problems import ProblemError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="tierwise"'}


class BearerAuth:
    """Checks `Authorization: Bearer <token>` against the configured tokens (none: open)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self._tokens = [t.encode() for t in tokens]

    @property
    def required(self) -> bool:
        """Whether callers must send a token."""
        return bool(self._tokens)

    def check(self, header: str | None) -> None:
        """Raise `unauthorized` unless the header carries one of the tokens."""
        if not self._tokens:
            return
        scheme, _, given = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise ProblemError(
                "unauthorized", "send Authorization: Bearer <token>", headers=CHALLENGE
            )
        candidate = given.strip().encode()
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(candidate, token)
        if not matched:
            raise ProblemError("unauthorized", "the bearer token is not valid", headers=CHALLENGE)
