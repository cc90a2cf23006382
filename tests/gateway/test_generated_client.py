"""A new user's client: generated from the gateway's merged OpenAPI with openapi-python-client, it runs
login -> assistant -> thread -> messages against the whole stack, through functions named after `<tag>-<name>`.
The admin console's generated types (admin/src/api/schema.d.ts, `make admin-api`) match the same document."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.platform import PASSWORD, platform

METHODS = ("get", "put", "post", "delete", "patch")
ADMIN = Path(__file__).resolve().parents[2] / "admin"


def _generate(spec: Path, out: Path) -> None:
    exe = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("openapi-python-client is not installed (it is in the `test` extra)")
    done = subprocess.run(
        [exe, "generate", "--path", str(spec), "--output-path", str(out), "--meta", "none", "--overwrite"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_every_operation_has_a_short_unique_tagged_id(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        doc = (await p.gw.get("/openapi.json")).json()
    ops = [op for item in doc["paths"].values() for m, op in item.items() if m in METHODS]
    ids = [op["operationId"] for op in ops]
    assert len(ids) == len(set(ids))
    for op in ops:
        tag, _, name = op["operationId"].rpartition("-")
        assert op["tags"] and tag == op["tags"][0], op["operationId"]
        assert name and "api_v1" not in name and len(op["operationId"]) <= 48, op["operationId"]


async def test_a_generated_client_runs_login_assistant_thread_messages(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        t = await p.tenant("Gen")
        spec = tmp_path / "openapi.json"
        spec.write_bytes((await p.gw.get("/openapi.json")).content)
        _generate(spec, tmp_path / "atende_client")
        sys.path.insert(0, str(tmp_path))
        try:
            client_mod = importlib.import_module("atende_client")
            login = importlib.import_module("atende_client.api.auth.auth_login")
            create_assistant = importlib.import_module("atende_client.api.assistants.assistants_create_assistant")
            create_thread = importlib.import_module("atende_client.api.threads.threads_create_thread")
            post_message = importlib.import_module("atende_client.api.threads.threads_post_message")
            list_messages = importlib.import_module("atende_client.api.threads.threads_list_messages")
            models = importlib.import_module("atende_client.models")

            anon = client_mod.Client(base_url=p.urls["gateway"], raise_on_unexpected_status=True)
            tokens = await login.asyncio(client=anon, body=models.LoginRequest(email=t.email, password=PASSWORD))
            assert tokens.access_token
            me = client_mod.AuthenticatedClient(
                base_url=p.urls["gateway"], token=tokens.access_token, raise_on_unexpected_status=True
            )

            assistant = await create_assistant.asyncio(
                client=me, body=models.AssistantCreate(name="Generated", instructions="Be brief.", is_default=True)
            )
            thread = await create_thread.asyncio(
                client=me, body=models.ThreadCreate(assistant_id=assistant.id, title="from a generated client")
            )
            answer = await post_message.asyncio(
                client=me, thread_id=thread.id, body=models.MessageCreate(content="hello from the generated client")
            )
            assert answer.user_message.content == "hello from the generated client"
            assert answer.assistant_message.content

            page = await list_messages.asyncio(client=me, thread_id=thread.id)
            assert [m.role for m in page.items] == ["user", "assistant"]
            assert page.items[1].content == answer.assistant_message.content
        finally:
            sys.path.remove(str(tmp_path))
            for name in [m for m in sys.modules if m == "atende_client" or m.startswith("atende_client.")]:
                del sys.modules[name]


async def test_the_admin_consoles_api_types_are_current(stack, committed_db, redis, tmp_path):
    """admin/src/api/schema.d.ts is what `make admin-api` makes of today's merged document (openapi-typescript)."""
    generator = ADMIN / "node_modules" / ".bin" / "openapi-typescript"
    if not generator.exists():
        message = "openapi-typescript is not installed (npm ci in admin/; `make admin-test-deps`)"
        if os.environ.get("ATENDE_REQUIRE_BROWSER") == "1":  # `make test`: the admin's npm packages are there
            pytest.fail(message)
        pytest.skip(message)
    async with platform(stack, tmp_path) as p:
        (tmp_path / "openapi.json").write_bytes((await p.gw.get("/openapi.json")).content)
    out = tmp_path / "schema.d.ts"
    proc = await asyncio.create_subprocess_exec(
        str(generator), str(tmp_path / "openapi.json"), "-o", str(out), cwd=ADMIN,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, output.decode(errors="replace")
    assert out.read_text() == (ADMIN / "src" / "api" / "schema.d.ts").read_text(), (
        "admin/src/api/schema.d.ts is stale: run `make run` and `make admin-api`, then commit it"
    )
