"""Prometheus metrics of one service: requests and latency per route, decisions per output,
reloads and their failures, and errors by problem type; each app has its own registry."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tierwise.outcome import Outcome

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class Metrics:
    """The service's counters and histograms, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tierwise_http_requests", "HTTP requests answered", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "tierwise_http_request_duration_seconds",
            "Time to answer a request, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.decisions = Counter(
            "tierwise_decisions",
            "Decisions served, by decision and output",
            ["decision", "output"],
            registry=r,
        )
        self.reloads = Counter("tierwise_reloads", "Packs loaded and swapped in", registry=r)
        self.reload_failures = Counter(
            "tierwise_reload_failures", "Edits of the rules that failed to load or test", registry=r
        )
        self.errors = Counter(
            "tierwise_errors", "Errors answered or logged, by problem type", ["type"], registry=r
        )
        self.release = Gauge(
            "tierwise_release_version", "Number of the release now serving", registry=r
        )
        self.in_flight = Gauge("tierwise_http_in_flight", "Requests being answered now", registry=r)
        self.log_pending = Gauge(
            "tierwise_decision_log_pending",
            "Served outcomes not yet in the decision log",
            registry=r,
        )
        self._labels: dict[tuple[Any, ...], Any] = {}
        self._routes: dict[tuple[str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        children = self._routes.get((route, status))
        if children is None:
            children = self._routes[(route, status)] = (
                self.requests.labels(route, str(status)),
                self.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def count_outcome(self, outcome: Outcome) -> None:
        """Count each decision of an outcome under its output (or its status)."""
        if outcome.errors:
            self.errors.labels("invalid-facts").inc()
            return
        for result in outcome.decisions.values():
            key = (outcome.pack_hash, result.decision, result.status, tuple(result.rules))
            child = self._labels.get(key)
            if child is None:
                child = self._labels[key] = self.decisions.labels(
                    result.decision, _label(result.status, result.output)
                )
            child.inc()

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)


def _label(status: str, output: Any) -> str:
    """`tier=gold discount_pct=10`, or the status when there is no output."""
    if status == "error" or output is None:
        return status
    items = output if isinstance(output, list) else [output]
    return " | ".join(" ".join(f"{k}={v}" for k, v in item.items()) for item in items) or "[]"
