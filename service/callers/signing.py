"""What the signed callers share: HMAC-SHA256 in constant time and a replay window."""

from __future__ import annotations

import hashlib
import hmac

from tierwise.service.problems import ProblemError


def hmac_sha256(secret: str, message: bytes) -> bytes:
    """The HMAC-SHA256 digest of a message under a shared secret."""
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def same(a: bytes, b: bytes) -> bool:
    """Constant-time equality of two signatures."""
    return hmac.compare_digest(a, b)


def check_fresh(sent_at: float, now: float, window: int, caller: str) -> None:
    """Refuse a signature older (or further ahead) than the replay window, in seconds."""
    age = now - sent_at
    if abs(age) > window:
        when = f"{int(age)} s old" if age > 0 else f"{int(-age)} s in the future"
        raise ProblemError(
            "bad-signature",
            f"the {caller} signature's timestamp is {when}; the window is {window} s",
        )


def refuse(caller: str, why: str) -> ProblemError:
    """The error for a missing or wrong signature."""
    return ProblemError("bad-signature", f"{caller}: {why}")
