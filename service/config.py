"""The service's settings, gathered once by `tierwise serve` and read by every part of the app."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from tierwise.errors import TierwiseError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class ConfigError(TierwiseError):
    """A setting the service cannot start with (a missing token on a public address...)."""


@dataclass(frozen=True)
class Secrets:
    """Shared secrets of the signed callers; None turns that caller off."""

    hubspot: str | None = None
    zendesk: str | None = None
    webhook: str | None = None


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the app needs: where the rules are, who may call, and the limits."""

    rules: Path
    host: str = "127.0.0.1"
    port: int = 8000
    tokens: tuple[str, ...] = ()
    secrets: Secrets = field(default_factory=Secrets)
    callers: Path | None = None
    source: str | None = None
    mapping: Path | None = None
    log: str | None = None
    profile: Path | None = None
    profile_log: str | None = None
    public_url: str | None = None
    max_body: int = 1_000_000
    max_batch: int = 1000
    max_concurrency: int = 64
    timeout: float = 10.0
    replay_window: int = 300
    cors: tuple[str, ...] = ()
    watch: bool = True
    run_tests: bool = True
    idempotency_size: int = 10_000
    log_batch: int = 500
    log_interval: float = 0.5

    def check(self) -> None:
        """Refuse settings that would expose decisions: no token on a non-loopback address."""
        if not self.tokens and not is_loopback(self.host):
            raise ConfigError(
                f"serving on {self.host} needs bearer tokens (--token-file FILE or "
                "TIERWISE_TOKENS); without them the service binds to loopback only"
            )
        if self.max_batch < 1 or self.max_concurrency < 1 or self.max_body < 1:
            raise ConfigError("--max-batch, --max-concurrency and --max-body must be at least 1")
        if self.timeout <= 0:
            raise ConfigError("--timeout must be a positive number of seconds")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_tokens(path: Path | None, env: str = "TIERWISE_TOKENS") -> tuple[str, ...]:
    """Bearer tokens: one a line in `path` (# comments allowed) and comma-separated in `env`."""
    tokens: list[str] = []
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise ConfigError(f"cannot read the token file {path}: {e.strerror}") from None
        tokens += [t.strip() for t in lines if t.strip() and not t.lstrip().startswith("#")]
    tokens += [t.strip() for t in os.environ.get(env, "").split(",") if t.strip()]
    if path is not None and not tokens:
        raise ConfigError(f"the token file {path} holds no token")
    return tuple(tokens)


def read_secret(path: Path | None, env: str) -> str | None:
    """A caller's shared secret: the file's content (stripped), else the environment variable."""
    if path is not None:
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError(f"cannot read the secret file {path}: {e.strerror}") from None
        if not secret:
            raise ConfigError(f"the secret file {path} is empty")
        return secret
    return os.environ.get(env) or None
