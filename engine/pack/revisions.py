"""Where the rules of a diff side come from: a path, or a git revision of a path.

    rules/              a file or folder on disk
    HEAD~1:rules        the folder `rules` (relative to the current directory) at HEAD~1
    git:HEAD~1          the same path as the other side, at HEAD~1

A revision is extracted with `git archive` into a temporary folder, so the working tree
is never touched.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from tierwise.errors import TierwiseError


class RevisionError(TierwiseError):
    """A diff side that is neither a path nor a git revision that holds the rules."""


def split_spec(spec: str, other: str | None = None) -> tuple[str | None, str]:
    """(revision or None, path) for a side's spec; `other` is the other side's spec."""
    if spec.startswith("git:"):
        rest = spec[4:]
        if ":" in rest:
            rev, path = rest.split(":", 1)
            return rev, path or "."
        hint = f"{spec}: say which rules (git:REV:path), or give the other side as a path"
        if other is None:
            raise RevisionError(hint)
        try:
            return rest, split_spec(other)[1]
        except RevisionError:
            raise RevisionError(hint) from None
    if Path(spec).exists():
        return None, spec
    if ":" in spec:
        rev, path = spec.split(":", 1)
        return rev, path or "."
    raise RevisionError(
        f"{spec}: no such file or folder (a git revision is written REV:path or git:REV)"
    )


def materialize(spec: str, other: str | None, into: Path) -> Path:
    """The rules of `spec` as a path on disk; revisions are extracted under `into`."""
    rev, path = split_spec(spec, other)
    if rev is None:
        return Path(path)
    top = Path(_git(Path.cwd(), "rev-parse", "--show-toplevel").decode().strip())
    target = Path(path).resolve()
    try:
        rel = target.relative_to(top.resolve())
    except ValueError:
        raise RevisionError(f"{spec}: {path} is outside the git repository at {top}") from None
    _git(
        top,
        "rev-parse",
        "--verify",
        "--quiet",
        f"{rev}^{{commit}}",
        what=f"{spec}: unknown git revision {rev!r}",
    )
    rel_text = rel.as_posix() or "."
    data = _git(
        top, "archive", "--format=tar", rev, "--", rel_text, what=f"{spec}: {rev} has no {rel_text}"
    )
    folder = into / _safe(rev)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
    return folder / rel


def _git(cwd: Path, *args: str, what: str | None = None) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise RevisionError("git is not installed, so revisions cannot be read") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()
        raise RevisionError(what or f"git {' '.join(args)}: {detail}")
    return done.stdout


def _safe(rev: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in rev) or "rev"
