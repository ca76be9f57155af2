"""Resolution: turn the set of matching rules into each decision's result for clients.

Stage six of the pipeline. The hit policies themselves (first, unique, priority, any,
collect, the default and no decision) live in tierwise.policy; this module adds what a
client needs. A result depends only on which rules matched, so it is resolved once per set
of matches and then given to each client with that set, with the client's own explanation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tierwise import policy
from tierwise.outcome import DecisionResult, Explanation, Status
from tierwise.pack.ir import Decision


class Explainer(Protocol):
    """Builds one rule's explanation from one client's facts."""

    def explain(self, facts: dict[str, Any]) -> Explanation: ...


@dataclass(frozen=True, slots=True)
class Resolved:
    """A decision's result for one set of matching rules, without any client's values."""

    decision: str
    status: Status
    output: dict[str, Any] | list[dict[str, Any]] | None
    rules: tuple[str, ...]
    explainers: tuple[Explainer, ...]
    error: str | None = None

    def result(self, facts: dict[str, Any]) -> DecisionResult:
        """This result for one client: its own copy of the output, explained by its facts."""
        output = self.output
        explainers = self.explainers
        return DecisionResult(
            self.decision,
            self.status,
            output.copy()
            if isinstance(output, dict)
            else None
            if output is None
            else [o.copy() for o in output],
            list(self.rules),
            [explainers[0].explain(facts)]
            if len(explainers) == 1
            else [e.explain(facts) for e in explainers],
            self.error,
        )


def resolve(
    decision: Decision, matched: Sequence[int], explainers: Mapping[str, Explainer]
) -> Resolved:
    """The decision's result for the rules (by index) that matched, by its hit policy
    (tierwise.policy); a decided result carries each winning rule's explainer."""
    r = policy.resolve(decision, matched)
    winners = r.rules if r.status == "decided" else ()
    return Resolved(
        decision.name,
        r.status,
        r.output,
        tuple(rule.id for rule in r.rules),
        tuple(explainers[rule.id] for rule in winners),
        r.error,
    )
