"""CRM callers through a real server: HubSpot (signed with the HubSpot SDK's own helper),
Zendesk and the generic webhook, each valid, tampered and expired; payload mapping; facts
read by id from a SQL source equal to what `tierwise run` decides; event ids replay."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa
from hubspot.utils.signature import Signature

from tierwise import Engine
from tierwise.adapters.job import run_job
from tierwise.adapters.log import DECISIONS, DecisionLog
from tierwise.adapters.sql import open_sql
from tierwise.service.callers import webhook, zendesk
from tierwise.service.config import Secrets
from tierwise.service.payload import CallersFileError, load_callers

from .conftest import AS_OF, make_crm
from .service_support import SHIPPED, config, running

SECRETS = Secrets(hubspot="hs-client-secret", zendesk="zd-signing-secret", webhook="wh-secret")
CALLERS = """\
hubspot:
  client_id: object.objectId
  event_id: callbackId
  facts:
    revenue_12m: inputFields.revenue_12m
    direct_costs_12m: inputFields.direct_costs_12m
    relationship_costs_12m: inputFields.relationship_costs_12m
    churn_risk: inputFields.churn_risk
    orders_12m: inputFields.orders_12m
    first_purchase_at: inputFields.first_purchase_at
  outputs:
    tier: pricing_tier.tier
    discount: pricing_tier.discount_pct
zendesk:
  client_id: ticket.requester_id
  as_of: ticket.created_at
  facts:
    open_complaints: ticket.open_complaints
    revenue_12m: requester.revenue_12m
    direct_costs_12m: requester.direct_costs_12m
    relationship_costs_12m: requester.relationship_costs_12m
    churn_risk: requester.churn_risk
  outputs:
    actions: support_action.action
webhook:
  client_id: id
  facts:
    revenue_12m: facts.revenue_12m
    direct_costs_12m: facts.direct_costs_12m
  outputs:
    tier: pricing_tier.tier
"""
STRATEGIC = {
    "revenue_12m": 9000,
    "direct_costs_12m": 2000,
    "relationship_costs_12m": 100,
    "churn_risk": 0.05,
    "orders_12m": 3,
    "first_purchase_at": "2023-01-01",
}
"""A client whose lifetime value is in the top 5% of the tests' profile (service_support)."""
HUBSPOT_ACTION = {
    "callbackId": "ap-102-42-7",
    "origin": {"portalId": 4711, "actionDefinitionId": 102},
    "context": {"source": "WORKFLOWS", "workflowId": 9},
    "object": {"objectId": 42, "objectType": "CONTACT"},
    "inputFields": STRATEGIC,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    callers = tmp_path_factory.mktemp("callers") / "callers.yaml"
    callers.write_text(CALLERS)
    cfg = config(SHIPPED, watch=False, secrets=SECRETS, callers=callers)
    with running(cfg) as base:
        yield base, base


def hubspot_post(
    base: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    secret: str = "hs-client-secret",
    uri: str | None = None,
) -> httpx.Response:
    url = base + "/v1/callers/hubspot"
    ts = str(timestamp if timestamp is not None else int(time.time() * 1000))
    signature = Signature.get_signature(secret, body.decode(), "v3", uri or url, "POST", ts)
    headers = {
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": ts,
        "Content-Type": "application/json",
    }
    return httpx.post(url, content=body, headers=headers)


def test_hubspot_action_answers_output_fields(served: tuple[str, str]) -> None:
    base, _ = served
    r = hubspot_post(base, orjson.dumps(HUBSPOT_ACTION))
    assert r.status_code == 200, r.text
    assert r.json() == {"outputFields": {"tier": "platinum", "discount": 15}}


def test_hubspot_tampered_wrong_secret_and_expired_are_refused(served: tuple[str, str]) -> None:
    base, _ = served
    body = orjson.dumps(HUBSPOT_ACTION)
    url = base + "/v1/callers/hubspot"
    ts = str(int(time.time() * 1000))
    good = Signature.get_signature("hs-client-secret", body.decode(), "v3", url, "POST", ts)
    tampered = body.replace(b"9000", b"9900")
    headers = {"X-HubSpot-Signature-v3": good, "X-HubSpot-Request-Timestamp": ts}
    r = httpx.post(url, content=tampered, headers=headers)
    assert r.status_code == 401 and r.json()["type"] == "urn:tierwise:problem:bad-signature"
    assert hubspot_post(base, body, secret="another").status_code == 401
    old = int((time.time() - 301) * 1000)
    r = hubspot_post(base, body, timestamp=old)
    assert r.status_code == 401 and "window" in r.json()["detail"]
    ahead = int((time.time() + 600) * 1000)
    assert hubspot_post(base, body, timestamp=ahead).status_code == 401
    assert httpx.post(url, content=body).status_code == 401
    assert (
        hubspot_post(base, body, uri="https://elsewhere.example/v1/callers/hubspot").status_code
        == 401
    )


def test_hubspot_retry_with_the_same_callback_id_is_replayed(served: tuple[str, str]) -> None:
    base, _ = served
    action = {**HUBSPOT_ACTION, "callbackId": "ap-retry-1"}
    first = hubspot_post(base, orjson.dumps(action))
    again = hubspot_post(base, orjson.dumps(action))
    assert first.json() == again.json()
    assert again.headers.get("idempotency-replayed") == "true"


def zendesk_headers(
    body: bytes, when: dt.datetime, secret: str = "zd-signing-secret"
) -> dict[str, str]:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "X-Zendesk-Webhook-Signature": zendesk.sign(secret, stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Invocation-Id": "inv-1",
        "Content-Type": "application/json",
    }


def test_zendesk_webhook_signed_tampered_expired(served: tuple[str, str]) -> None:
    base, _ = served
    url = base + "/v1/callers/zendesk"
    payload = {
        "ticket": {"requester_id": 314, "open_complaints": 1, "created_at": "2026-01-01T10:00:00Z"},
        "requester": {
            "revenue_12m": 9000,
            "direct_costs_12m": 2000,
            "relationship_costs_12m": 100,
            "churn_risk": 0.05,
        },
    }
    body = orjson.dumps(payload)
    now = dt.datetime.now(dt.UTC)
    r = httpx.post(url, content=body, headers=zendesk_headers(body, now))
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["outputs"] == {"actions": ["priority_callback", "complaint_follow_up"]}
    assert answer["outcome"]["client_id"] == "314"
    assert answer["outcome"]["as_of"] == "2026-01-01"
    retried = httpx.post(url, content=body, headers=zendesk_headers(body, now))
    assert retried.content == r.content  # the same invocation id: the first answer
    assert retried.headers["idempotency-replayed"] == "true"
    tampered = body.replace(b"9000", b"1000")
    assert httpx.post(url, content=tampered, headers=zendesk_headers(body, now)).status_code == 401
    stale = now - dt.timedelta(minutes=6)
    assert httpx.post(url, content=body, headers=zendesk_headers(body, stale)).status_code == 401
    wrong = zendesk_headers(body, now, secret="not-it")
    assert httpx.post(url, content=body, headers=wrong).status_code == 401


def test_generic_webhook_signed_tampered_replayed(served: tuple[str, str]) -> None:
    base, _ = served
    url = base + "/v1/callers/webhook"
    body = orjson.dumps({"id": "c-9", "facts": {"revenue_12m": 50, "direct_costs_12m": 40}})
    now = int(time.time())
    ok = httpx.post(
        url, content=body, headers={"X-Tierwise-Signature": webhook.sign("wh-secret", now, body)}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["outputs"] == {"tier": "standard"}
    assert ok.json()["outcome"]["pack_version"] == 1
    signed = webhook.sign("wh-secret", now, body)
    tampered = body.replace(b"50", b"99")
    assert (
        httpx.post(url, content=tampered, headers={"X-Tierwise-Signature": signed}).status_code
        == 401
    )
    old = webhook.sign("wh-secret", now - 400, body)
    r = httpx.post(url, content=body, headers={"X-Tierwise-Signature": old})
    assert r.status_code == 401 and "old" in r.json()["detail"]
    garbled = {"X-Tierwise-Signature": "v1=abc"}
    assert httpx.post(url, content=body, headers=garbled).status_code == 401


def test_callers_without_a_secret_are_not_served() -> None:
    with running(config(SHIPPED, watch=False)) as base:
        assert httpx.post(base + "/v1/callers/hubspot", json={}).status_code == 404


def test_callers_file_errors_name_the_place(tmp_path: Path) -> None:
    path = tmp_path / "callers.yaml"
    path.write_text("hubspot:\n  outputs:\n    tier: pricing_tier.teir\n")
    engine = Engine.from_path(SHIPPED)
    outputs = {d.name: set(d.output_types) for d in engine.pack.decisions}
    with pytest.raises(CallersFileError, match=r"callers.yaml:3:11: 'pricing_tier.teir'"):
        load_callers(path, outputs)
    path.write_text("hubspot:\n  factz: {}\n")
    with pytest.raises(CallersFileError, match=r"callers.yaml:2:3: hubspot.factz"):
        load_callers(path, outputs)


def test_an_id_alone_is_decided_on_the_facts_tierwise_run_reads(
    crm_url: str, tmp_path: Path, pack_dir: Path, mapping_file: Path
) -> None:
    crm = crm_url
    make_crm(crm, 12)
    engine = Engine.from_path(pack_dir)
    log = DecisionLog(f"sqlite:///{tmp_path / 'run.db'}")
    run_job(engine, open_sql(crm, mapping_file), log, as_of=AS_OF, writeback=False)
    with log.engine.connect() as conn:
        rows = conn.execute(sa.select(DECISIONS)).mappings().all()
    logged = {(r["client_id"], r["decision"]): r for r in rows}
    cfg = config(pack_dir, watch=False, source=crm, mapping=mapping_file)
    with running(cfg) as base:
        for cid in ("3", "7", "12"):
            r = httpx.post(base + "/v1/decide", json={"client_id": cid, "as_of": AS_OF.isoformat()})
            assert r.status_code == 200, r.text
            for name, result in r.json()["decisions"].items():
                row = logged[(cid, name)]
                assert result["status"] == row["status"]
                assert orjson.loads(row["output"] or "null") == result["output"]
                assert result["rules"] == row["rules"]
        r = httpx.post(base + "/v1/decide", json={"client_id": "999"})
        assert r.status_code == 404 and r.json()["type"].endswith("unknown-client")
        r = httpx.post(base + "/v1/decide", json={"client_id": "abc"})
        assert r.status_code == 404


def test_a_dead_fact_source_is_a_502_that_names_it(
    tmp_path: Path, pack_dir: Path, mapping_file: Path
) -> None:
    path = tmp_path / "crm.db"
    make_crm(f"sqlite:///{path}", 3)
    cfg = config(pack_dir, watch=False, source=f"sqlite:///{path}", mapping=mapping_file)
    with running(cfg) as base:
        assert httpx.post(base + "/v1/decide", json={"client_id": "2"}).status_code == 200
        with sa.create_engine(f"sqlite:///{path}").begin() as conn:
            conn.execute(sa.text("drop table orders"))
        r = httpx.post(base + "/v1/decide", json={"client_id": "2"})
        assert r.status_code == 502
        body = r.json()
        assert body["type"] == "urn:tierwise:problem:fact-source-failed"
        assert "crm.db" in body["detail"] and "orders" in body["detail"]
        batch = httpx.post(base + "/v1/decide:batch", json={"clients": [{"client_id": "2"}]})
        assert batch.status_code == 200
        assert "orders" in batch.json()["outcomes"][0]["errors"][0]["message"]


def test_a_callers_file_may_not_map_a_fact_the_pack_derives(tmp_path: Path) -> None:
    path = tmp_path / "callers.yaml"
    path.write_text("webhook:\n  facts:\n    clv_percentile: facts.pct\n")
    engine = Engine.from_path(SHIPPED)
    derived = {d.name: d.pos for d in engine.pack.derived}
    with pytest.raises(
        CallersFileError, match=r"callers.yaml:3:5: the pack derives clv_percentile"
    ):
        load_callers(path, {}, derived)
