"""A 50 MB upload streams through a gateway process whose memory stays flat (it is never held whole)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psutil

from devtools.embedded import free_port
from tests.support.plugin import wait_for

ROOT = Path(__file__).resolve().parents[2]
SIZE = 50 * 1024 * 1024
CHUNK = 256 * 1024


async def test_50mb_upload_streams_with_bounded_gateway_memory(stack, redis, upstreams, make_token):
    port = free_port()
    env = (
        os.environ
        | {f"GATEWAY_{name.upper()}_UPSTREAM": url for name, (_, url) in upstreams.items()}
        | {
            "REDIS_URL": stack.redis_url,
            "JWKS_JSON": stack.keys.jwks_json,
            "LOG_LEVEL": "WARNING",
            "GATEWAY_MAX_UPLOAD_BYTES": str(100 * 1024 * 1024),
        }
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "gateway.main:app",
            "--port",
            str(port),
            "--no-proxy-headers",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:

            async def up() -> bool:
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(up, timeout=60)
            auth = {"Authorization": f"Bearer {make_token(tenant_id=uuid.uuid4())}"}
            assert (await client.post("/api/v1/transcriptions", headers=auth, content=b"warm")).status_code == 200
            gateway = psutil.Process(proc.pid)
            baseline = gateway.memory_info().rss
            peak = baseline
            sent = 0
            block = os.urandom(CHUNK)

            async def body():
                nonlocal sent
                while sent < SIZE:
                    sent += CHUNK
                    yield block

            async def sample() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, gateway.memory_info().rss)
                    await asyncio.sleep(0.01)

            sampler = asyncio.create_task(sample())
            try:
                r = await client.post(
                    "/api/v1/transcriptions",
                    headers=auth | {"Content-Type": "application/octet-stream", "Content-Length": str(SIZE)},
                    content=body(),
                )
            finally:
                sampler.cancel()
            assert r.status_code == 200, r.text
            seen = r.json()
            assert seen["body_bytes"] == SIZE
            growth = peak - baseline
            assert growth < 20 * 1024 * 1024, f"gateway RSS grew by {growth / 2**20:.1f} MiB for a 50 MiB upload"
            assert seen["max_chunk"] <= 1024 * 1024  # the upstream received it in pieces, not one blob
    finally:
        proc.terminate()
        proc.wait(timeout=10)
