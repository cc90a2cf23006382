"""Platform overhead on time-to-first-token: chat's SSE answer vs calling the local provider directly.

Starts embedded Postgres + Redis, the OpenAI-protocol stand-in and the chat service (uvicorn subprocesses),
then measures TTFT p50/p99 at 1 and 50 concurrent streams. `make bench-chat` or `python -m bench.chat`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.devstack import EmbeddedPostgres, EmbeddedRedis, free_port
from shared.migrations import upgrade_all
from shared.testing_keys import TestKeys

ROUNDS = {1: 100, 50: 6}  # concurrency -> rounds


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


async def ttft_direct(http: httpx.AsyncClient, url: str) -> float:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hello there"}]}
    started, first = time.perf_counter(), None
    async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
        async for line in r.aiter_lines():
            if first is None and '"content":"' in line and '"content":""' not in line:
                first = time.perf_counter() - started  # read on to the end: a whole answer, as clients do
    if first is None:
        raise RuntimeError("no token")
    return first


async def ttft_chat(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> float:
    r = await http.post(f"{url}/api/v1/threads", json={}, headers=headers)
    thread = r.json()["id"]
    sse = headers | {"Accept": "text/event-stream"}
    started, first = time.perf_counter(), None
    async with http.stream(
        "POST", f"{url}/api/v1/threads/{thread}/messages", json={"content": "hello there"}, headers=sse
    ) as r:
        async for line in r.aiter_lines():
            if first is None and line.startswith("event: delta"):
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("no token")
    return first


async def measure(fn, concurrency: int) -> list[float]:
    out: list[float] = []
    for _ in range(ROUNDS[concurrency]):
        out += await asyncio.gather(*(fn() for _ in range(concurrency)))
    return out


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


async def run(pg_url: str, redis_url: str) -> None:
    keys = TestKeys.generate()
    llm_port, chat_port = free_port(), free_port()
    env = os.environ | {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "JWKS_JSON": keys.jwks_json,
        "LOG_LEVEL": "WARNING",
        "CHAT_LLM_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "CHAT_LLM_API_KEY": "sk-bench",
        "CHAT_TENANT_SETTINGS_URL": "",
        "AUTH_URL": "",
        "CHAT_DB_POOL_SIZE": "20",
    }
    stand_in = subprocess.Popen(  # noqa: ASYNC220 - bench set-up, before any measurement
        [
            sys.executable,
            "-c",
            "import uvicorn; from shared.testing_llm import LLMStandIn; "
            f"uvicorn.run(LLMStandIn(chunk_delay=0.005).app, port={llm_port}, log_level='warning')",
        ],
        env=env,
    )
    chat = subprocess.Popen(  # noqa: ASYNC220 - bench set-up
        [
            sys.executable,
            "-m",
            "uvicorn",
            "services.chat.main:app",
            "--port",
            str(chat_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    try:
        wait_http(f"http://127.0.0.1:{llm_port}/v1/models")
        wait_http(f"http://127.0.0.1:{chat_port}/health")
        tenant = uuid.uuid4()
        headers = {"Authorization": f"Bearer {keys.mint(tenant_id=tenant, role='admin', ttl=3600)}"}
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http:
            llm_url, chat_url = f"http://127.0.0.1:{llm_port}", f"http://127.0.0.1:{chat_port}"
            for _ in range(5):  # warm-up: connections, JIT-ish caches, tiktoken
                await ttft_direct(http, llm_url)
                await ttft_chat(http, chat_url, headers)
            print(
                f"{'concurrency':>11} {'direct p50':>10} {'direct p99':>10} {'chat p50':>9} {'chat p99':>9} "
                f"{'added p50':>9} {'added p99':>9}  (ms)"
            )
            for c in (1, 50):
                direct = await measure(lambda: ttft_direct(http, llm_url), c)
                via = await measure(lambda: ttft_chat(http, chat_url, headers), c)
                d50, d99, c50, c99 = (pct(direct, 0.5), pct(direct, 0.99), pct(via, 0.5), pct(via, 0.99))
                print(
                    f"{c:>11} {d50 * 1000:>10.1f} {d99 * 1000:>10.1f} {c50 * 1000:>9.1f} {c99 * 1000:>9.1f} "
                    f"{(c50 - d50) * 1000:>9.1f} {(c99 - d99) * 1000:>9.1f}   n={len(via)}, "
                    f"mean added {(statistics.mean(via) - statistics.mean(direct)) * 1000:.1f}"
                )
    finally:
        for p in (chat, stand_in):
            p.terminate()
            p.wait(10)


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    os.environ.setdefault("PG_FAST", "1")
    pg = EmbeddedPostgres(base / "pg", port=free_port()).start()
    rd = EmbeddedRedis(base / "redis", port=free_port()).start()
    try:
        head = pg.url.rpartition("/")[0]

        async def create() -> None:
            engine = create_async_engine(f"{head}/postgres", isolation_level="AUTOCOMMIT")
            async with engine.connect() as conn:
                await conn.execute(text('CREATE DATABASE "bench"'))
            await engine.dispose()

        asyncio.run(create())
        url = f"{head}/bench"
        upgrade_all(url, ("chat",))
        asyncio.run(run(url, rd.url))
    finally:
        rd.stop()
        pg.stop()


if __name__ == "__main__":
    main()
