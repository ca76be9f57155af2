"""Zendesk webhooks: `X-Zendesk-Webhook-Signature` is base64 HMAC-SHA256 of the timestamp
header followed by the body, under the webhook's signing secret."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping

from .signing import check_fresh, hmac_sha256, refuse, same

SIGNATURE = "x-zendesk-webhook-signature"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
INVOCATION = "x-zendesk-webhook-invocation-id"
"""Zendesk's id of one invocation: its retries carry the same one."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature Zendesk sends for this timestamp and body."""
    return base64.b64encode(hmac_sha256(secret, timestamp.encode() + body)).decode()


def verify(headers: Mapping[str, str], body: bytes, secret: str, now: float, window: int) -> None:
    """Raise `bad-signature` unless Zendesk signed this body within the window."""
    signature, timestamp = headers.get(SIGNATURE), headers.get(TIMESTAMP)
    if not signature or not timestamp:
        raise refuse("Zendesk", f"{SIGNATURE} and {TIMESTAMP} headers are required")
    try:
        sent = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise refuse("Zendesk", f"{TIMESTAMP} is not an ISO 8601 time") from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=dt.UTC)
    check_fresh(sent.timestamp(), now, window, "Zendesk")
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise refuse("Zendesk", "the signature is not base64") from None
    if not same(given, hmac_sha256(secret, timestamp.encode() + body)):
        raise refuse("Zendesk", "the signature does not match the request")
