"""The decision API through a real uvicorn server on 127.0.0.1: answers equal the engine's,
traces, batches, the pack, probes, metrics, problem details, auth, limits, idempotency."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tierwise import Engine
from tierwise.service.models import BatchResponse, Decided, PackInfo, Problem

from .service_support import RICH, SHIPPED, config, running, shipped_profile

DAY = "2026-01-01"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    token_free = config(SHIPPED, watch=False, max_batch=5, max_body=20_000)
    with running(token_free) as base:
        yield base


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_path(SHIPPED)


def problem(response: httpx.Response, status: int, kind: str) -> Problem:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = Problem.model_validate(response.json())
    assert body.type == f"urn:tierwise:problem:{kind}"
    assert body.status == status
    assert "Traceback" not in response.text
    return body


def test_decide_answers_what_the_engine_decides(url: str, engine: Engine) -> None:
    r = httpx.post(url + "/v1/decide", json={"facts": RICH, "as_of": DAY})
    assert r.status_code == 200
    got = Decided.model_validate(r.json())
    want = engine.decide(RICH, dt.date(2026, 1, 1), profile=shipped_profile())
    assert got.pack_hash == want.pack_hash == engine.pack.hash
    assert got.pack_version == 1
    assert got.client_id == "42"
    assert json.loads(got.model_dump_json(include={"decisions"})) == json.loads(
        want.model_dump_json(include={"decisions"})
    )
    assert got.trace is None


def test_decide_narrows_to_the_decisions_asked(url: str) -> None:
    body = {"facts": RICH, "as_of": DAY, "decisions": ["pricing_tier"]}
    got = httpx.post(url + "/v1/decide", json=body).json()
    assert list(got["decisions"]) == ["pricing_tier"]
    assert got["decisions"]["pricing_tier"]["output"] == {"tier": "gold", "discount_pct": 10}


def test_trace_explains_every_rule_tried_with_its_place(url: str, engine: Engine) -> None:
    body = {"facts": RICH, "as_of": DAY, "trace": True}
    got = Decided.model_validate(httpx.post(url + "/v1/decide", json=body).json())
    assert got.trace is not None
    rules = {(d.name, r.id): r for d in engine.pack.decisions for r in d.rules}
    assert {(t.decision, t.rule) for t in got.trace} == set(rules)
    for t in got.trace:
        rule = rules[(t.decision, t.rule)]
        assert t.at == str(rule.pos) and t.at.split(":")[0].endswith((".yaml", ".csv"))
        if t.won:
            assert t.matched
            assert t.rule in got.decisions[t.decision].rules
        if t.matched:
            assert t.result == "true" and t.failed == []
        else:
            assert t.failed, f"{t.rule} did not match and says no why"
    winners = {(d, r) for d, res in got.decisions.items() for r in res.rules}
    assert winners == {(t.decision, t.rule) for t in got.trace if t.won}
    gold = next(t for t in got.trace if t.rule == "platinum")
    assert gold.failed[0].result == "false"
    assert gold.failed[0].facts == {"value_segment.segment": "high_value"}


def test_invalid_facts_are_422_naming_each_fact(url: str) -> None:
    facts = {"revenue_12m": "high", "csat_last": 9, "preferred_channel": "pigeon"}
    r = httpx.post(url + "/v1/decide", json={"facts": facts})
    body = problem(r, 422, "invalid-facts")
    assert {e["fact"] for e in body.errors or []} == set(facts)
    assert "revenue_12m" in body.detail
    derived = {"clv_percentile": 97, "revenue_12m": 10.0}  # the pack derives clv_percentile
    body = problem(httpx.post(url + "/v1/decide", json={"facts": derived}), 422, "invalid-facts")
    (error,) = body.errors or []
    assert error["fact"] == "clv_percentile" and "derived by the pack" in error["message"]


def test_unknown_decision_is_404(url: str) -> None:
    r = httpx.post(url + "/v1/decide", json={"facts": RICH, "decisions": ["pricing_teir"]})
    body = problem(r, 404, "unknown-decision")
    assert "pricing_teir" in body.detail and "pricing_tier" in body.detail


def test_request_shape_errors_name_the_field(url: str) -> None:
    r = httpx.post(url + "/v1/decide", json={"facts": RICH, "as_of": "someday", "extra": 1})
    body = problem(r, 422, "invalid-request")
    assert {e["where"] for e in body.errors or []} == {"as_of", "extra"}
    r = httpx.post(
        url + "/v1/decide", content=b"{not json", headers={"content-type": "application/json"}
    )
    problem(r, 400, "malformed-request")
    r = httpx.post(url + "/v1/decide", content=b"x", headers={"content-type": "text/plain"})
    problem(r, 415, "unsupported-media-type")


def test_only_an_id_without_a_fact_source_is_refused(url: str) -> None:
    body = problem(httpx.post(url + "/v1/decide", json={"client_id": "7"}), 422, "no-facts")
    assert "--source" in body.detail


def test_payload_too_large_is_413(url: str) -> None:
    big = {"facts": {**RICH, "notes": "x" * 30_000}}
    problem(httpx.post(url + "/v1/decide", json=big), 413, "payload-too-large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"facts": {"notes": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"}}'

    r = httpx.post(
        url + "/v1/decide", content=chunks(), headers={"content-type": "application/json"}
    )
    problem(r, 413, "payload-too-large")


def test_batch_answers_in_order_and_a_bad_client_is_its_own_error(url: str, engine: Engine) -> None:
    clients = [
        {"facts": RICH},
        {"facts": {"revenue_12m": "high"}, "client_id": "b"},
        7,
        {"client_id": "only-an-id"},
        {"facts": {**RICH, "client_id": "43", "revenue_12m": 90_000.0}},
    ]
    r = httpx.post(url + "/v1/decide:batch", json={"clients": clients, "as_of": DAY})
    assert r.status_code == 200, r.text
    got = BatchResponse.model_validate(r.json())
    assert [o.client_id for o in got.outcomes] == ["42", "b", None, "only-an-id", "43"]
    assert (
        got.outcomes[0].decisions
        == Decided.model_validate(
            httpx.post(url + "/v1/decide", json={"facts": RICH, "as_of": DAY}).json()
        ).decisions
    )
    assert [e.fact for e in got.outcomes[1].errors] == ["revenue_12m"]
    assert got.outcomes[2].errors and not got.outcomes[2].decisions
    assert "fact source" in got.outcomes[3].errors[0].message
    last = clients[4]["facts"]  # type: ignore[index]
    want = engine.decide(last, dt.date(2026, 1, 1), profile=shipped_profile())
    assert got.outcomes[4].decisions["pricing_tier"].output == want.output("pricing_tier")


def test_batch_over_the_limit_is_refused_whole(url: str) -> None:
    r = httpx.post(url + "/v1/decide:batch", json={"clients": [{"facts": {}}] * 6})
    body = problem(r, 413, "payload-too-large")
    assert "limit is 5" in body.detail


def test_pack_lists_decisions_inputs_and_rules_with_their_places(url: str, engine: Engine) -> None:
    r = httpx.get(url + "/v1/pack")
    info = PackInfo.model_validate(r.json())
    assert info.hash == engine.pack.hash and info.version == 1
    assert [d.name for d in info.decisions] == engine.decisions
    assert {i.name: i.type for i in info.inputs}["marketing_consent"].startswith("enum")
    pricing = next(d for d in info.decisions if d.name == "pricing_tier")
    assert pricing.rules[0].id == "platinum" and "pricing_tier.yaml:" in pricing.rules[0].at
    assert info.last_reload_error is None
    assert dt.datetime.now(dt.UTC) - info.loaded_at < dt.timedelta(hours=1)


def test_probes_and_metrics(url: str) -> None:
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(url + "/readyz").json()["status"] == "ready"
    httpx.post(url + "/v1/decide", json={"facts": RICH, "as_of": DAY})
    text = httpx.get(url + "/metrics").text
    assert 'tierwise_http_requests_total{route="/v1/decide",status="200"}' in text
    assert 'tierwise_http_request_duration_seconds_bucket{le="0.005",route="/v1/decide"}' in text
    assert (
        'tierwise_decisions_total{decision="pricing_tier",output="tier=gold discount_pct=10"}'
        in text
    )
    assert "tierwise_reloads_total 0.0" in text
    assert "tierwise_reload_failures_total 0.0" in text
    assert 'tierwise_errors_total{type="invalid-facts"}' in text


def test_unknown_route_and_method_are_problems(url: str) -> None:
    problem(httpx.get(url + "/v2/decide"), 404, "not-found")
    problem(httpx.get(url + "/v1/decide"), 405, "method-not-allowed")


def test_idempotency_key_replays_the_first_answer(url: str) -> None:
    key = {"Idempotency-Key": "order-991"}
    body = {"facts": RICH, "as_of": DAY}
    first = httpx.post(url + "/v1/decide", json=body, headers=key)
    again = httpx.post(url + "/v1/decide", json=body, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotency-replayed"] == "true"
    assert "idempotency-replayed" not in first.headers
    other = httpx.post(url + "/v1/decide", json={**body, "as_of": "2026-02-01"}, headers=key)
    problem(other, 409, "idempotency-conflict")


def test_openapi_describes_the_api(url: str) -> None:
    schema = httpx.get(url + "/openapi.json").json()
    assert {"/v1/decide", "/v1/decide:batch", "/v1/pack", "/healthz", "/readyz", "/metrics"} <= set(
        schema["paths"]
    )
    decide = schema["paths"]["/v1/decide"]["post"]
    assert decide["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DecideRequest"
    }
    assert "application/problem+json" in decide["responses"]["422"]["content"]
    assert "Decided" in schema["components"]["schemas"]


def test_tokens_are_required_when_configured(tmp_path: Path) -> None:
    with running(config(SHIPPED, watch=False, tokens=("s3cret", "other"))) as base:
        body = {"facts": RICH, "as_of": DAY}
        problem(httpx.post(base + "/v1/decide", json=body), 401, "unauthorized")
        wrong = {"Authorization": "Bearer s3cre"}
        r = httpx.post(base + "/v1/decide", json=body, headers=wrong)
        assert problem(r, 401, "unauthorized") and r.headers["www-authenticate"].startswith(
            "Bearer"
        )
        problem(httpx.get(base + "/v1/pack"), 401, "unauthorized")
        problem(httpx.get(base + "/metrics"), 401, "unauthorized")
        ok = httpx.post(base + "/v1/decide", json=body, headers={"Authorization": "Bearer other"})
        assert ok.status_code == 200
        assert httpx.get(base + "/healthz").status_code == 200


def test_cors_is_off_unless_configured() -> None:
    preflight = {"Origin": "https://crm.example", "Access-Control-Request-Method": "POST"}
    with running(config(SHIPPED, watch=False)) as base:
        r = httpx.options(base + "/v1/decide", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
    with running(config(SHIPPED, watch=False, cors=("https://crm.example",))) as base:
        r = httpx.options(base + "/v1/decide", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://crm.example"


def test_the_fast_lane_and_the_fastapi_route_answer_the_same_bytes(url: str) -> None:
    calls = [
        ("/v1/decide", {"facts": RICH, "as_of": DAY, "trace": True}),
        ("/v1/decide", {"facts": {"clv_percentile": "high"}}),
        ("/v1/decide", {"facts": RICH, "decisions": ["nope"]}),
        ("/v1/decide:batch", {"clients": [{"facts": RICH}, 3], "as_of": DAY}),
    ]
    cors = config(SHIPPED, watch=False, max_batch=5, max_body=20_000, cors=("https://x.example",))
    with running(cors) as through_fastapi:
        for path, body in calls:
            fast = httpx.post(url + path, json=body)
            slow = httpx.post(through_fastapi + path, json=body)
            assert (fast.status_code, fast.content) == (slow.status_code, slow.content)
            assert fast.headers["content-type"] == slow.headers["content-type"]
        text = httpx.get(url + "/metrics").text
        assert 'tierwise_http_requests_total{route="/v1/decide:batch",status="200"}' in text
