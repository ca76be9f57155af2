"""Live packs: a reload under a bounded load (every answer from exactly the old or the new
pack, none failed), a broken edit or a failing test keeps the last good pack serving and
shows why, SIGHUP forces a reload, and SIGTERM drains in-flight requests and flushes the
served-decision log exactly once per idempotency key."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tierwise.adapters.log import DECISIONS, RUNS, DecisionLog

from .service_support import RICH, config, copy_pack, running, subprocess_server

DAY = "2026-01-01"
GOLD = {"facts": RICH, "as_of": DAY, "decisions": ["pricing_tier"]}


def wait_for(check: Callable[[], Any], seconds: float = 30) -> Any:
    """Poll until `check` gives something true (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def edit_gold(rules: Path, discount: int, *, test_too: bool = True) -> None:
    path = rules / "pricing_tier.yaml"
    text = path.read_text()
    rule, expect = "{tier: gold, discount_pct: ", "expect: {tier: gold, discount_pct: "
    for head, change in ((expect, test_too), (rule, True)):
        old = text.split(head, 1)[1].split("}", 1)[0]
        if change:
            text = text.replace(head + old + "}", head + str(discount) + "}", 1)
    path.write_text(text)


def pack(base: str) -> dict[str, Any]:
    return httpx.get(base + "/v1/pack").json()  # type: ignore[no-any-return]


def test_reload_under_load_answers_each_request_from_one_whole_pack(tmp_path: Path) -> None:
    rules = copy_pack(tmp_path)
    with running(config(rules)) as base:
        old = pack(base)["hash"]
        answers: list[tuple[int, str | None, Any]] = []
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(base_url=base) as client:
                for _ in range(3000):  # bounded
                    if stop.is_set():
                        return
                    r = client.post("/v1/decide", json=GOLD)
                    body = r.json()
                    out = body.get("decisions", {}).get("pricing_tier", {}).get("output")
                    answers.append((r.status_code, body.get("pack_hash"), out))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        wait_for(lambda: len(answers) > 50)
        edit_gold(rules, 11)
        new = wait_for(lambda: (h := pack(base)["hash"]) != old and h)
        seen = len(answers)
        wait_for(lambda: len(answers) > seen + 50)
        stop.set()
        for t in threads:
            t.join()
    assert {status for status, _, _ in answers} == {200}
    by_pack = {old: {"tier": "gold", "discount_pct": 10}, new: {"tier": "gold", "discount_pct": 11}}
    for _, hash_, output in answers:
        assert output == by_pack[hash_]
    assert {h for _, h, _ in answers} == {old, new}


def test_a_broken_edit_keeps_the_last_good_pack_serving(tmp_path: Path) -> None:
    rules = copy_pack(tmp_path)
    with running(config(rules)) as base:
        good = pack(base)["hash"]
        path = rules / "pricing_tier.yaml"
        text = path.read_text()
        path.write_text(
            text.replace("when: value_segment.segment", "whne: value_segment.segment", 1)
        )
        error = wait_for(lambda: pack(base)["last_reload_error"])
        assert "pricing_tier.yaml:" in error["problems"][0] and "whne" in error["problems"][0]
        r = httpx.post(base + "/v1/decide", json=GOLD)
        assert r.status_code == 200 and r.json()["pack_hash"] == good
        metrics = httpx.get(base + "/metrics").text
        assert "tierwise_reload_failures_total 1.0" in metrics

        path.write_text(text)
        edit_gold(rules, 12, test_too=False)  # valid, but the pack's own test now fails
        error = wait_for(
            lambda: (e := pack(base)["last_reload_error"]) and "test" in e["message"] and e
        )
        assert any("high value and frequent is gold" in p for p in error["problems"])
        assert httpx.post(base + "/v1/decide", json=GOLD).json()["pack_hash"] == good

        edit_gold(rules, 12)
        fixed = wait_for(lambda: (p := pack(base))["hash"] != good and p)
        assert fixed["last_reload_error"] is None and fixed["version"] > 1
        out = httpx.post(base + "/v1/decide", json=GOLD).json()
        assert out["pack_hash"] == fixed["hash"]
        assert out["decisions"]["pricing_tier"]["output"]["discount_pct"] == 12
        assert "tierwise_reloads_total 1.0" in httpx.get(base + "/metrics").text


def test_sighup_forces_a_reload(tmp_path: Path) -> None:
    rules = copy_pack(tmp_path)
    with subprocess_server(["--rules", str(rules), "--no-watch"]) as (proc, base):
        old = pack(base)["hash"]
        edit_gold(rules, 13)
        time.sleep(0.3)
        assert pack(base)["hash"] == old  # not watching: nothing changes by itself
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: pack(base)["hash"] != old)
        out = httpx.post(base + "/v1/decide", json=GOLD).json()
        assert out["decisions"]["pricing_tier"]["output"]["discount_pct"] == 13


def test_sigterm_drains_in_flight_requests_and_flushes_the_log(tmp_path: Path) -> None:
    log_url = f"sqlite:///{tmp_path / 'served.db'}"
    args = [
        "--log",
        log_url,
        "--no-watch",
        "--max-batch",
        "3000",
        "--max-body",
        "10000000",
        "--timeout",
        "120",
    ]
    clients = [{"facts": {**RICH, "client_id": f"b{i}"}} for i in range(3000)]
    with subprocess_server(args) as (proc, base):
        key = {"Idempotency-Key": "once"}
        single = {"facts": {**RICH, "client_id": "k1"}, "as_of": DAY}
        first = httpx.post(base + "/v1/decide", json=single, headers=key)
        again = httpx.post(base + "/v1/decide", json=single, headers=key)
        assert again.content == first.content
        anonymous = {"facts": {k: v for k, v in RICH.items() if k != "client_id"}, "as_of": DAY}
        httpx.post(base + "/v1/decide", json=anonymous, headers={"Idempotency-Key": "anon"})
        result: dict[str, httpx.Response] = {}

        def batch() -> None:
            body = {"clients": clients, "as_of": DAY, "trace": True}
            result["r"] = httpx.post(base + "/v1/decide:batch", json=body, timeout=60)

        sender = threading.Thread(target=batch)
        sender.start()
        wait_for(lambda: "tierwise_http_in_flight 2.0" in httpx.get(base + "/metrics").text)
        proc.send_signal(signal.SIGTERM)
        sender.join(timeout=60)
        assert proc.wait(timeout=60) == -signal.SIGTERM  # uvicorn re-raises it after the drain
        out = proc.stdout.read() if proc.stdout else ""
        assert "Application shutdown complete" in out
    r = result["r"]
    assert r.status_code == 200
    assert [o["client_id"] for o in r.json()["outcomes"]] == [f"b{i}" for i in range(3000)]
    log = DecisionLog(log_url)
    with log.engine.connect() as conn:
        runs = conn.execute(sa.select(RUNS)).mappings().all()
        ids = conn.execute(sa.select(DECISIONS.c.client_id, DECISIONS.c.decision)).all()
    assert [run["status"] for run in runs] == ["finished"]
    assert runs[0]["clients"] == 3002
    per_client: dict[str, int] = {}
    for cid, _ in ids:
        per_client[cid] = per_client.get(cid, 0) + 1
    assert per_client["k1"] == 5  # once, though asked twice with one key
    assert per_client["request:anon"] == 5  # no client id: logged under its request key
    assert len(per_client) == 3002 and set(per_client.values()) == {5}
