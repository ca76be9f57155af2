"""The README's `tierwise serve` examples work as shown: the curl call answers the JSON
printed there, and the HubSpot callers file answers the documented output fields."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import httpx
import orjson
import pytest
from hubspot.utils.signature import Signature

from tierwise.plugins import builtin_serve
from tierwise.service.config import Secrets

from .service_support import ROOT, SHIPPED, config, running

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("### `tierwise serve`", 1)[1].split("\n### ", 1)[0]


def block(kind: str, n: int = 0) -> str:
    return re.findall(rf"```{kind}\n(.*?)```", SECTION, re.S)[n]


@pytest.fixture(scope="module")
def sample_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The profile `tierwise serve` decides with when given no arguments: the sample CRM's."""
    folder = tmp_path_factory.mktemp("sample")
    here = os.getcwd()
    os.chdir(folder)
    try:
        return folder / builtin_serve.sample_profile()
    finally:
        os.chdir(here)


def test_the_curl_example_answers_as_shown(sample_profile: Path) -> None:
    body = block("sh").split("-d '", 1)[1].rsplit("'", 1)[0]
    shown = json.loads(block("json"))
    with running(config(SHIPPED, watch=False, profile=sample_profile)) as base:
        got = httpx.post(
            base + "/v1/decide", content=body, headers={"Content-Type": "application/json"}
        ).json()
    shown.pop("pack_hash"), got.pop("pack_hash")  # the shipped packs change; the shape does not
    assert got == shown


def test_the_hubspot_example_answers_the_documented_fields(
    tmp_path: Path, sample_profile: Path
) -> None:
    callers = tmp_path / "callers.yaml"
    callers.write_text(block("yaml"))
    answer = re.search(r"HubSpot then receives `(\{.*?\})`", SECTION, re.S)
    assert answer is not None
    action = {
        "callbackId": "ap-1",
        "object": {"objectId": 42, "objectType": "CONTACT"},
        "inputFields": json.loads(block("json", 1)),
    }
    raw = orjson.dumps(action)
    cfg = config(
        SHIPPED,
        watch=False,
        callers=callers,
        secrets=Secrets(hubspot="secret"),
        profile=sample_profile,
    )
    with running(cfg) as base:
        url = base + "/v1/callers/hubspot"
        ts = str(int(time.time() * 1000))
        headers = {
            "X-HubSpot-Signature-v3": Signature.get_signature(
                "secret", raw.decode(), "v3", url, "POST", ts
            ),
            "X-HubSpot-Request-Timestamp": ts,
            "Content-Type": "application/json",
        }
        got = httpx.post(url, content=raw, headers=headers).json()
    assert got == json.loads(answer.group(1))
