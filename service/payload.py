"""The callers file (YAML): how a CRM's webhook payload becomes facts, and which decision
outputs go back in the answer. Like the SQL mapping, every value keeps its file:line:col.

```yaml
hubspot:                          # one section per caller: hubspot, zendesk, webhook
  client_id: object.objectId      # dotted path into the JSON payload
  event_id: callbackId            # the CRM's event id: a retried call answers the same
  facts:                          # fact -> path in the payload
    clv: inputFields.clv
  outputs:                        # answer field -> decision.output
    tier: pricing_tier.tier
```
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tierwise.errors import ErrorSink, RulePackError, TierwiseError
from tierwise.outcome import Outcome
from tierwise.pack.load import load_yaml

CallerName = Literal["hubspot", "zendesk", "webhook"]
_MISSING = object()


class CallersFileError(TierwiseError):
    """A callers file that cannot be used; the message names file:line:col."""


class CallerMapping(BaseModel):
    """One caller's mapping: where the client id, event id and facts are, and the outputs."""

    model_config = ConfigDict(extra="forbid")

    client_id: str | None = None
    event_id: str | None = None
    as_of: str | None = None
    facts: dict[str, str] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)

    def read_facts(self, payload: Any) -> dict[str, Any]:
        """The facts found in a payload (a path that is absent gives no fact, null stays null)."""
        facts = {}
        for fact, path in self.facts.items():
            value = pick(payload, path)
            if value is not _MISSING:
                facts[fact] = value
        return facts

    def read(self, payload: Any, path: str | None) -> str | None:
        """A value at `path` as text (ids), or None when absent."""
        if path is None:
            return None
        value = pick(payload, path)
        return None if value is _MISSING or value is None else str(value)

    def answer(self, outcome: Outcome) -> dict[str, Any]:
        """The chosen outputs of an outcome, by answer field: a value, a list for a collect
        decision, None where nothing was decided."""
        fields: dict[str, Any] = {}
        for name, target in self.outputs.items():
            decision, _, key = target.partition(".")
            result = outcome.decisions.get(decision)
            output = result.output if result is not None else None
            if isinstance(output, list):
                fields[name] = [o.get(key) for o in output]
            else:
                fields[name] = output.get(key) if isinstance(output, dict) else None
        return fields


class CallersModel(BaseModel):
    """The whole callers file: a section per caller, each optional."""

    model_config = ConfigDict(extra="forbid")

    hubspot: CallerMapping = Field(default_factory=CallerMapping)
    zendesk: CallerMapping = Field(default_factory=CallerMapping)
    webhook: CallerMapping = Field(default_factory=CallerMapping)


def pick(payload: Any, path: str) -> Any:
    """The value at a dotted path (`object.objectId`, `items.0.id`), or _MISSING."""
    value = payload
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def load_callers(
    path: Path | None,
    decisions: dict[str, set[str]],
    derived: Mapping[str, object] | None = None,
) -> CallersModel:
    """Read and check a callers file against the serving pack's decisions and outputs
    (`decisions`: name -> output fields) and the facts it derives (`derived`: name -> where;
    a caller gives the facts they are computed from, never them); None gives empty mappings."""
    if path is None:
        return CallersModel()
    sink = ErrorSink()
    doc = load_yaml(path, sink)
    if doc is None:
        raise CallersFileError(str(RulePackError(sink.errors)).replace("rule pack", "callers file"))
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise CallersFileError(f"{doc.path}:1:1: a callers file must be a YAML mapping")
    try:
        model = CallersModel.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = tuple(x for x in err["loc"] if isinstance(x, str | int))
            pos = doc.key_pos(loc) if err["type"] == "extra_forbidden" else doc.pos(loc)
            lines.append(f"{pos}: {'.'.join(map(str, loc))}: {err['msg']}")
        raise CallersFileError("invalid callers file:\n" + "\n".join(lines)) from None
    for caller in ("hubspot", "zendesk", "webhook"):
        for fact in getattr(model, caller).facts:
            if fact in (derived or {}):
                raise CallersFileError(
                    f"{doc.key_pos((caller, 'facts', fact))}: the pack derives {fact} (at "
                    f"{(derived or {})[fact]}): map the facts it is computed from"
                )
        for name, target in getattr(model, caller).outputs.items():
            decision, _, key = target.partition(".")
            if key not in decisions.get(decision, set()):
                known = ", ".join(f"{d}.{k}" for d, ks in decisions.items() for k in sorted(ks))
                raise CallersFileError(
                    f"{doc.pos((caller, 'outputs', name))}: {target!r} is no decision output "
                    f"of the pack (outputs: {known})"
                )
    return model
