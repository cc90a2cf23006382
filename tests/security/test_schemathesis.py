"""Schemathesis against the gateway's merged OpenAPI document, on the real platform (tests/support/platform.py).

Two runs, one per kind of caller: a tenant admin with a JWT, and an API key with the `read` scope only. Every
operation of `/openapi.json` is tested (except EXCLUDED, with the reason) in all of Schemathesis' phases: the
schema's examples, coverage (boundary and invalid values of every parameter and body field, unexpected methods),
random fuzzing (valid and invalid data), and stateful sequences that follow the links Schemathesis infers (create an
object, then read, change and delete it). Three checks must hold for every answer: no 5xx, the status code is one
the operation documents, and the body matches the documented schema (problem+json for every error).

CI replays the same cases every run (fixed seed, deterministic generation, no example database), so a landing never
hinges on luck. Locally the seed is random (printed in the output); SCHEMATHESIS_SEED replays one, and
SCHEMATHESIS_MAX_EXAMPLES runs longer (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path

import pytest

from tests.support.platform import METHODS, Platform, platform

CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
CI = bool(os.environ.get("CI"))
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED") or (20261201 if CI else random.randrange(2**32)))
MAX_STEPS = 6  # calls per stateful scenario
ROOT = Path(__file__).resolve().parents[2]

# Operations a run does not call ("METHOD /path": reason). Only the endless feed: deleting a tenant needs a
# superuser, the read key cannot revoke itself (admin scope), the last admin cannot be removed or demoted (409), and
# a random current_password changes nothing. The one destructive case, a tenant admin deactivating their own tenant
# (the run's credentials would stop working), is rewritten to `status: active` by tests/security/schemathesis_hooks.py.
EXCLUDED: dict[str, str] = {
    # a console feed that never ends: every call would wait out the request timeout; its format, isolation and
    # resume are tested in tests/chat/test_live_events.py
    "GET /api/v1/events": "server-sent events, an endless stream",
}


def _cli_args(p: Platform, out: Path, header: str) -> list[str]:
    exclude = [arg for name in EXCLUDED for arg in ("--exclude-name", name)]
    config = out / "schemathesis.toml"
    config.write_text(
        "[cache]\n"
        f"enabled = {'false' if CI else 'true'}\n"
        f'directory = "{ROOT / ".schemathesis"}"\n'  # local runs keep what they learnt (git-ignored)
        "[phases.stateful]\n"
        f"max-steps = {MAX_STEPS}\n"
    )
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{p.urls['gateway']}/openapi.json",
        "--checks",
        CHECKS,
        "--header",
        header,
        "--generation-with-security-parameters",
        "false",  # the run's own credentials on every call; missing or bad ones are the gateway tests' job
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        *(["--generation-deterministic"] if CI else []),  # deterministic: no example database either
        "--workers",
        "1",  # one request at a time: the order of cases, and so the run, is the same every time
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(out / "report.json"),
        *exclude,
    ]


async def _run(p: Platform, tmp_path: Path, header: str) -> tuple[int, str, dict]:
    out = tmp_path / "schemathesis"
    out.mkdir()
    env = os.environ | {"SCHEMATHESIS_HOOKS": "tests.security.schemathesis_hooks", "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        *_cli_args(p, out, header),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stdout, _ = await proc.communicate()
    text = stdout.decode(errors="replace")
    report_file = out / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return proc.returncode or 0, text, report


def _operations(doc: dict) -> set[str]:
    return {f"{m.upper()} {path}" for path, item in doc["paths"].items() for m in item if m in METHODS}


async def _fuzz(p: Platform, tmp_path: Path, header: str) -> None:
    doc = (await p.gw.get("/openapi.json")).json()
    assert not doc.get("x-upstreams-unavailable"), doc.get("x-upstreams-unavailable")
    ops = _operations(doc)
    assert not [name for name in EXCLUDED if name not in ops], "EXCLUDED lists an operation that no longer exists"
    code, output, report = await _run(p, tmp_path, header)
    print(output)  # the whole run, with the seed, for the log of a failing CI job
    assert code == 0, f"schemathesis found failures (seed {SEED}):\n{output[-20000:]}"
    assert f"Selected: {len(ops) - len(EXCLUDED)}/{len(ops)}" in output, output[-3000:]
    assert f"Tested: {len(ops) - len(EXCLUDED)}" in output, output[-3000:]


@pytest.fixture
async def fuzz_platform(stack, committed_db, redis, tmp_path: Path):
    async with platform(stack, tmp_path) as p:
        await p.tenant("Operator")  # the first account of an install is the platform superuser
        p.t = await p.tenant("Fuzz")
        yield p


async def test_schemathesis_as_tenant_admin_and_as_read_api_key(fuzz_platform, tmp_path):
    """Both callers' runs at once on one platform (each run's cases are still generated and sent in order): the
    platform serves one while the other generates, so the pair takes little more than the longer run."""
    p = fuzz_platform
    r = await p.gw.post("/api/v1/api-keys", headers=p.t.headers, json={"name": "fuzz-read", "scopes": ["read"]})
    assert r.status_code == 201, r.text
    (tmp_path / "admin").mkdir()
    (tmp_path / "read-key").mkdir()
    await asyncio.gather(
        _fuzz(p, tmp_path / "admin", f"Authorization: Bearer {p.t.token}"),
        _fuzz(p, tmp_path / "read-key", f"X-API-Key: {r.json()['key']}"),
    )


async def test_schemathesis_findings_stay_fixed(fuzz_platform):
    """Each finding of the runs above, as a plain request: a clear 4xx problem, never a 500."""
    p = fuzz_platform
    gw, h = p.gw, p.t.headers

    def problem(r, status: int) -> dict:
        assert r.status_code == status, (r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == status and body["detail"]
        return body

    # every error answer in the merged document is described as problem+json
    doc = (await gw.get("/openapi.json")).json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for code, answer in op.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400:
                    assert "application/problem+json" in answer.get("content", {}), (method, path, code)

    # a NUL in any text is refused (Postgres cannot store it): was a 500
    r = await gw.post("/api/v1/threads", headers=h, json={"title": "t"})
    assert r.status_code == 201, r.text
    r = await gw.post(f"/api/v1/threads/{r.json()['id']}/messages", headers=h, json={"content": "a\u0000b"})
    assert problem(r, 422)["errors"]

    # a multipart part without headers: was a 500 in the streaming upload parser; nothing is kept
    before = sorted(f for f in p.storage.rglob("*") if f.is_file())
    boundary = "c27a7b67fb42f1f60df710b79e8ad171"
    r = await gw.post(
        "/api/v1/transcriptions",
        headers=h | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=f"--{boundary}\r\n2.2250738585072014e-308--{boundary}--\r\n".encode(),
    )
    assert "malformed" in problem(r, 400)["detail"]
    assert sorted(f for f in p.storage.rglob("*") if f.is_file()) == before

    # logs since a date before 1970: was a 500 (a negative stream id)
    r = await gw.get("/api/v1/admin/logs", headers=h, params={"since": "0414-02-26T20:50:35Z"})
    assert r.status_code == 200, r.text

    # an empty first message is 'message_empty', not 'message_too_long'; a domain 422 also lists `errors`
    body = problem(await gw.post("/api/v1/threads", headers=h, json={"message": ""}), 422)
    assert body["code"] == "message_empty" and body["errors"] == [{"loc": [], "msg": body["detail"]}]
    body = problem(await gw.patch(f"/api/v1/tenants/{p.t.tenant_id}", headers=h, json={"buffer_enabled": None}), 422)
    assert body["errors"]
