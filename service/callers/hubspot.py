"""HubSpot workflow actions: `X-HubSpot-Signature-v3` checked with the HubSpot SDK's own
helper (HMAC-SHA256 over method, URI, body and timestamp, base64), the timestamp within the
replay window, and the answer `{"outputFields": {...}}` a workflow action reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .signing import check_fresh, refuse

SIGNATURE = "x-hubspot-signature-v3"
TIMESTAMP = "x-hubspot-request-timestamp"


def available() -> bool:
    """Whether the HubSpot SDK is installed (`pip install tierwise[hubspot]`)."""
    try:
        import hubspot.utils.signature  # noqa: F401
    except ImportError:
        return False
    return True


def verify(
    headers: Mapping[str, str], body: bytes, uri: str, secret: str, now: float, window: int
) -> None:
    """Raise `bad-signature` unless the request is HubSpot's, signed within the window.

    `uri` is the full URL HubSpot called (scheme, host, path and query), as HubSpot signs it.
    """
    from hubspot.exceptions import InvalidSignatureTimestampError
    from hubspot.utils.signature import Signature

    signature, timestamp = headers.get(SIGNATURE), headers.get(TIMESTAMP)
    if not signature or not timestamp:
        raise refuse("HubSpot", f"{SIGNATURE} and {TIMESTAMP} headers are required")
    try:
        sent_at = int(timestamp) / 1000
    except ValueError:
        raise refuse("HubSpot", f"{TIMESTAMP} is not milliseconds since 1970") from None
    check_fresh(sent_at, now, window, "HubSpot")
    try:
        valid = Signature.is_valid(
            signature=signature,
            client_secret=secret,
            request_body=body.decode("utf-8", "replace"),
            http_uri=uri,
            http_method="POST",
            signature_version="v3",
            timestamp=timestamp,
        )
    except InvalidSignatureTimestampError:
        raise refuse("HubSpot", "the request timestamp is too old") from None
    if not valid:
        raise refuse("HubSpot", "the signature does not match the request")


def answer(fields: dict[str, Any]) -> dict[str, Any]:
    """What a HubSpot custom workflow action reads back."""
    return {"outputFields": fields}
