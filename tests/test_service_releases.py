"""Releases and profiles: a broken pack cannot start the service and says where; the
whole-base profile comes from a JSON file or a decision log's newest finished run, is
held by every release, and reaches the enrichment that ranks clients against it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import orjson
import pytest

from tierwise.adapters.log import DecisionLog
from tierwise.errors import TierwiseError
from tierwise.service.app import create_app
from tierwise.service.config import ConfigError, ServiceConfig
from tierwise.service.releases import ReleaseError, ReleaseHolder, load_profile

from .service_support import SHIPPED, config, copy_pack, running, shipped_profile


def profile() -> dict[str, object]:
    """The fixed statistics of the service tests, as the JSON a run stores."""
    return shipped_profile().to_json()


def test_a_broken_pack_stops_the_start_with_every_error(tmp_path: Path) -> None:
    rules = copy_pack(tmp_path)
    (rules / "pricing_tier.yaml").write_text("decision: pricing_tier\nrules: [{id: a, whne: x}]\n")
    with pytest.raises(ReleaseError) as caught:
        ReleaseHolder(rules)
    assert any("pricing_tier.yaml:2:" in p for p in caught.value.problems)


def test_a_public_address_without_tokens_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs bearer tokens"):
        create_app(ServiceConfig(rules=SHIPPED, host="0.0.0.0", watch=False))


def test_the_profile_comes_from_a_file_or_the_newest_finished_run(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_bytes(orjson.dumps(profile()))
    assert load_profile(path, None) == shipped_profile()
    assert load_profile(None, None) is None
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(TierwiseError, match=r"bad\.json: a profile is a JSON object"):
        load_profile(tmp_path / "bad.json", None)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = DecisionLog(url)
    with pytest.raises(TierwiseError, match="no finished run"):
        load_profile(None, url)
    run = log.start_run(pack_hash="x", as_of=dt.date(2026, 1, 1), source="s", profile=profile())
    log.finish_run(run)
    log.start_run(pack_hash="x", as_of=dt.date(2026, 1, 2), source="s", profile={"unfinished": 1})
    assert load_profile(None, url) == shipped_profile()


def test_the_served_release_ranks_clients_against_its_profile(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_bytes(orjson.dumps(profile()))
    facts = {"revenue_12m": 9000.0, "direct_costs_12m": 2000.0, "relationship_costs_12m": 100.0}
    body = {"facts": {**facts, "churn_risk": 0.05}, "as_of": "2026-01-01"}
    with running(config(SHIPPED, watch=False, profile=path)) as base:
        assert httpx.get(base + "/v1/pack").json()["profile"] is True
        ranked = httpx.post(base + "/v1/decide", json=body).json()
    assert ranked["decisions"]["value_segment"]["output"]["segment"] == "strategic"
    with pytest.raises(ReleaseError, match=r"statistics of the whole base .* no profile"):
        ReleaseHolder(SHIPPED)
    changed = copy_pack(tmp_path)
    text = (changed / "crm_facts.yaml").read_text().replace("groups: 100", "groups: 50")
    (changed / "crm_facts.yaml").write_text(text)
    with pytest.raises(ReleaseError, match="compute the profile again"):
        ReleaseHolder(changed, profile=shipped_profile())
