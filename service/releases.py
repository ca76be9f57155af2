"""Releases: a loaded, checked pack ready to serve, and the one reference that swaps it.

A release is built off the request path (load, compile, the pack's own tests) and swapped
in by a single assignment; a request reads `holder.current` once and uses only that
release, so no request ever sees a half-loaded pack. A failed load keeps the last good
release serving and is kept as `last_error` for `/v1/pack`, the log and the metrics.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierwise.errors import RulePackError, TierwiseError
from tierwise.profile import Profile, ProfileError
from tierwise.runtime.engine import Engine
from tierwise.runtime.trace import Tracer
from tierwise.testing.rule_tests import run_all

log = logging.getLogger("tierwise.service")


class ReleaseError(TierwiseError):
    """A pack that cannot be served: its load errors (file:line:col) or its failing tests."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class Release:
    """One servable pack: its engine and tracer, its hash, when it was loaded, from where,
    its number in this service's life, and the whole-base profile it decides with."""

    engine: Engine
    tracer: Tracer
    hash: str
    version: int
    loaded_at: dt.datetime
    source: Path
    profile: Profile | None = None
    derived: frozenset[str] = frozenset()
    """The names of the facts the pack derives, which a caller may not send."""


@dataclass(frozen=True)
class ReloadFailure:
    """Why the newest edit is not serving: when it was tried and every problem found."""

    at: dt.datetime
    message: str
    problems: list[str]


def build_release(
    folder: Path,
    version: int,
    *,
    profile: Profile | None,
    run_tests: bool,
    load: Callable[[Path], Engine] | None = None,
) -> Release:
    """Load and check a pack: every load error, the profile it needs, then the pack's own
    tests; raises ReleaseError. `load` defaults to the pack with every plugin's functions."""
    try:
        engine = (load or _load)(folder)
    except RulePackError as e:
        raise ReleaseError(str(e).splitlines()[0], [str(err) for err in e.errors]) from None
    except (TierwiseError, OSError) as e:
        raise ReleaseError(f"cannot load {folder}: {e}", [str(e)]) from None
    if engine.pack.profile:
        problem = (
            "no profile was given: start the service with --profile FILE "
            "(`tierwise profile --to FILE`) or --profile-log URL"
            if profile is None
            else _misfit(profile, engine)
        )
        if problem:
            stats = ", ".join(s.name for s in engine.pack.profile)
            message = f"the pack reads statistics of the whole base ({stats}); {problem}"
            raise ReleaseError(message, [message])
    if run_tests:
        failed = [r.report() for r in run_all(engine) if not r.passed]
        if failed:
            count = len(failed)
            raise ReleaseError(
                f"{count} test{'s' if count != 1 else ''} of the pack failed", failed
            )
    return Release(
        engine=engine,
        tracer=Tracer(engine),
        hash=engine.pack.hash,
        version=version,
        loaded_at=dt.datetime.now(dt.UTC),
        source=folder,
        profile=profile,
        derived=frozenset(d.name for d in engine.pack.derived),
    )


def _load(folder: Path) -> Engine:
    from tierwise.plugins.manager import function_registry

    return Engine.from_path(folder, functions=function_registry())


def _misfit(profile: Profile, engine: Engine) -> str | None:
    """Why the profile cannot serve this pack, or None."""
    try:
        profile.check(engine.pack)
    except ProfileError as e:
        return str(e)
    return None


class ReleaseHolder:
    """Holds the serving release; `reload` builds the next one and swaps it in whole."""

    def __init__(
        self,
        folder: Path,
        *,
        profile: Profile | None = None,
        run_tests: bool = True,
        on_reload: Callable[[bool], None] | None = None,
    ) -> None:
        self.folder = folder
        self.profile = profile
        self.run_tests = run_tests
        self.on_reload = on_reload
        self.last_error: ReloadFailure | None = None
        self._lock = threading.Lock()
        self._versions = 0
        self.current: Release = self._build()

    def _build(self) -> Release:
        """The next release from the folder (numbered in the service's life)."""
        self._versions += 1
        return build_release(
            self.folder, self._versions, profile=self.profile, run_tests=self.run_tests
        )

    def reload(self) -> bool:
        """Load the folder again; True when a new release now serves. A broken edit keeps
        the current release and records why; an unchanged pack is left as it is."""
        with self._lock:
            try:
                release = self._build()
            except Exception as e:  # a broken edit, or a bug: either way the last good pack serves
                problems = e.problems if isinstance(e, ReleaseError) else [repr(e)]
                if not isinstance(e, ReleaseError):
                    log.exception("reload of %s failed unexpectedly", self.folder)
                self.last_error = ReloadFailure(dt.datetime.now(dt.UTC), str(e), problems)
                log.error(
                    "reload of %s failed, still serving pack %s: %s\n%s",
                    self.folder,
                    self.current.hash,
                    e,
                    "\n".join(problems),
                )
                self._notify(False)
                return False
            self.last_error = None
            if release.hash == self.current.hash:
                log.info("reload of %s: pack %s unchanged", self.folder, release.hash)
                return False
            self.current = release
        log.info("now serving pack %s (release %d)", release.hash, release.version)
        self._notify(True)
        return True

    def _notify(self, ok: bool) -> None:
        """Tell the metrics whether a reload swapped a pack in."""
        if self.on_reload is not None:
            self.on_reload(ok)


class Watcher:
    """Watches the rules folder (watchfiles) in a thread and reloads on every change."""

    def __init__(self, holder: ReleaseHolder) -> None:
        self.holder = holder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tierwise-watch", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def _run(self) -> None:
        """Reload after each batch of changes until stopped."""
        from watchfiles import watch

        for _changes in watch(self.holder.folder, stop_event=self._stop, debounce=200):
            self.holder.reload()

    def stop(self) -> None:
        """Stop watching and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=5)


def load_profile(path: Path | None, log_url: str | None) -> Profile | None:
    """The whole-base profile to decide with: a JSON file, or the newest finished run's
    profile in a decision log; None when neither is given."""
    if path is not None:
        import orjson

        try:
            value = orjson.loads(path.read_bytes())
        except OSError as e:
            raise TierwiseError(f"cannot read the profile {path}: {e.strerror}") from None
        except orjson.JSONDecodeError as e:
            raise TierwiseError(f"{path}: not JSON: {e}") from None
        if not isinstance(value, dict):
            raise TierwiseError(f"{path}: a profile is a JSON object")
        return _profile(value, str(path))
    if log_url is not None:
        from tierwise.adapters.log import DecisionLog

        decision_log = DecisionLog(log_url)
        try:
            finished = [r for r in decision_log.runs() if r["status"] == "finished"]
        finally:
            decision_log.close()
        if not finished:
            raise TierwiseError(
                f"the decision log {decision_log.url} has no finished run to profile from"
            )
        return _profile(finished[0]["profile"] or {}, f"run {finished[0]['id']}")
    return None


def _profile(data: Mapping[str, Any], where: str) -> Profile:
    try:
        return Profile.from_json(data)
    except ProfileError as e:
        raise TierwiseError(f"{where}: {e}") from None
