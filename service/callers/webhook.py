"""The generic signed webhook: `X-Tierwise-Signature: t=<unix seconds>,v1=<hex>` where the
hex is HMAC-SHA256 of `<t>.<body>` under the shared secret; `t` must be within the window."""

from __future__ import annotations

from collections.abc import Mapping

from .signing import check_fresh, hmac_sha256, refuse, same

SIGNATURE = "x-tierwise-signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a sender computes for this body at this time."""
    digest = hmac_sha256(secret, str(timestamp).encode() + b"." + body).hex()
    return f"t={timestamp},v1={digest}"


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float, window: int) -> None:
    """Raise `bad-signature` unless the header signs this body within the window."""
    header = headers.get(SIGNATURE)
    if not header:
        raise refuse("webhook", f"the {SIGNATURE} header is required")
    parts = dict(p.strip().partition("=")[::2] for p in header.split(","))
    stamp, digest = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not digest:
        raise refuse("webhook", f"{SIGNATURE} should read t=<unix seconds>,v1=<hex digest>")
    check_fresh(int(stamp), now, window, "webhook")
    try:
        given = bytes.fromhex(digest)
    except ValueError:
        raise refuse("webhook", "v1 is not a hex digest") from None
    if not same(given, hmac_sha256(secret, stamp.encode() + b"." + body)):
        raise refuse("webhook", "the signature does not match the request")
