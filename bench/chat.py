"""Platform overhead on time-to-first-token: chat's SSE answer vs calling the local provider directly.

Starts embedded Postgres + Redis, the OpenAI-protocol stand-in and the chat service (uvicorn subprocesses, both
on uvloop + httptools, one worker each), then measures TTFT p50/p99 at 1 and 50 concurrent streams.
`make bench-chat` or `python -m bench.chat [--rounds-1 N] [--rounds-50 N]`.

Measured the same way, side by side: every round runs a batch of direct streams and a batch of streams through
chat back to back (alternating which goes first), so both see the same machine load. The client is a minimal
raw-socket HTTP/1.1 client (no httpx in the timed path: its own CPU would be counted on both sides and, at
50 streams, queue behind itself); the clock runs from before connect to the first content token (direct: the
first `delta.content` chunk; chat: the first `event: delta`), and every response is read to the end.
CPU ms per stream is the chat (or stand-in) process's utime+stime over its batches, from /proc.

The tool round (`--tool-rounds N`, `--only-tools`): the platform's added time per tool round, excluding the tool's
and the model's own time. Each round times, back to back in a rotating order, one whole (non-streaming) answer
without tools, one with one tool round (the stand-in calls a tool on a local tool server that answers at once),
one direct call to the stand-in and one direct call to the tool server; the round's added time is
with-tool - without - direct model call - direct tool call (the extra model call and the tool itself).
"""

from __future__ import annotations

import argparse
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
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from shared.migrations import upgrade_all
from tests.support.keys import TestKeys

HOST = "127.0.0.1"
CHUNK_DELAY = 0.005  # the stand-in's pause before each content chunk (a fast real provider)
DIRECT_MARK = b'"delta":{"content":"'  # the first chunk is {"role":"assistant","content":""}: not a token
CHAT_MARK = b"event: delta"
_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc); 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK


async def ttft(port: int, path: str, body: dict, headers: dict[str, str], mark: bytes) -> float:
    """POST and read the whole (chunked, Connection: close) response; seconds until `mark` first shows."""
    payload = orjson.dumps(body)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n{head}\r\n"
    ).encode() + payload
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(HOST, port)
    first = None
    seen = b""
    try:
        writer.write(request)
        while data := await reader.read(65536):
            if first is None:
                seen += data
                if mark in seen:
                    first = time.perf_counter() - started
    finally:
        writer.close()
    status = seen[9:12] if seen else b"?"
    if first is None:
        raise RuntimeError(f"no token from {path} (HTTP {status.decode(errors='replace')}): {seen[:300]!r}")
    return first


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout  # generous: a busy 2-core machine imports slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def uvicorn_cmd(target: str, port: int, *, factory: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "uvicorn", target, "--host", HOST, "--port", str(port)]
    cmd += ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"]
    return cmd + (["--factory"] if factory else [])


class Bench:
    def __init__(self, llm_port: int, chat_port: int, headers: dict[str, str], pids: dict[str, int]) -> None:
        self.llm_port, self.chat_port, self.pids = llm_port, chat_port, pids
        self.auth = headers
        self.threads: list[str] = []

    async def prepare_threads(self, n: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{self.chat_port}", timeout=60) as http:
            while len(self.threads) < n:
                r = await http.post("/api/v1/threads", json={}, headers=self.auth)
                r.raise_for_status()
                self.threads.append(r.json()["id"])

    def direct(self, i: int):
        body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hello there"}]}
        return ttft(self.llm_port, "/v1/chat/completions", body, {"Authorization": "Bearer sk-bench"}, DIRECT_MARK)

    def via_chat(self, i: int):
        path = f"/api/v1/threads/{self.threads[i]}/messages"
        headers = self.auth | {"Accept": "text/event-stream"}
        return ttft(self.chat_port, path, {"content": "hello there"}, headers, CHAT_MARK)

    async def batch(self, fn, c: int, pid: int) -> tuple[list[float], float]:
        cpu = cpu_seconds(pid)
        out = await asyncio.gather(*(fn(i) for i in range(c)))
        return list(out), cpu_seconds(pid) - cpu

    async def level(self, c: int, rounds: int) -> dict[str, float]:
        await self.prepare_threads(c)
        direct: list[float] = []
        via: list[float] = []
        cpu_direct = cpu_chat = 0.0
        for r in range(rounds):
            order = ("direct", "chat") if r % 2 == 0 else ("chat", "direct")
            for side in order:
                if side == "direct":
                    times, cpu = await self.batch(self.direct, c, self.pids["llm"])
                    direct += times
                    cpu_direct += cpu
                else:
                    times, cpu = await self.batch(self.via_chat, c, self.pids["chat"])
                    via += times
                    cpu_chat += cpu
        n = len(via)
        return {
            "c": c,
            "n": n,
            "d50": pct(direct, 0.5) * 1000,
            "d99": pct(direct, 0.99) * 1000,
            "c50": pct(via, 0.5) * 1000,
            "c99": pct(via, 0.99) * 1000,
            "mean_added": (statistics.mean(via) - statistics.mean(direct)) * 1000,
            "cpu_llm": cpu_direct / n * 1000,
            "cpu_chat": cpu_chat / n * 1000,
        }


class ToolBench:
    """One tool round vs none, through chat's non-streaming answer; the model's and the tool's own time subtracted."""

    def __init__(self, bench: Bench, tool_port: int, plain: str, tooled: str) -> None:
        self.b, self.tool_port, self.plain, self.tooled = bench, tool_port, plain, tooled

    def answer(self, thread: str):
        path = f"/api/v1/threads/{thread}/messages"
        return ttft(self.b.chat_port, path, {"content": "order 1?"}, self.b.auth, b'"assistant_message"')

    def direct_llm(self):
        body = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
        return ttft(self.b.llm_port, "/v1/chat/completions", body, {"Authorization": "Bearer sk-bench"}, b'"choices"')

    def direct_tool(self):
        return ttft(self.tool_port, "/tools/lookup", {"order_id": "1"}, {}, b'"ok"')

    async def run(self, rounds: int) -> dict[str, float]:
        samples: dict[str, list[float]] = {"plain": [], "tool": [], "llm": [], "toolsrv": []}
        steps = {
            "plain": lambda: self.answer(self.plain),
            "tool": lambda: self.answer(self.tooled),
            "llm": self.direct_llm,
            "toolsrv": self.direct_tool,
        }
        names = list(steps)
        for r in range(rounds):
            for name in names[r % 4 :] + names[: r % 4]:
                samples[name].append(await steps[name]())
        paired = zip(samples["tool"], samples["plain"], samples["llm"], samples["toolsrv"], strict=True)
        added = [tool - plain - model - server for tool, plain, model, server in paired]
        return {k: pct(v, 0.5) * 1000 for k, v in samples.items()} | {
            "added50": pct(added, 0.5) * 1000,
            "added90": pct(added, 0.9) * 1000,
            "n": rounds,
        }


async def tool_setup(bench: Bench, tool_port: int) -> tuple[str, str]:
    """Two assistants (one with an HTTP tool on the local tool server) and a thread for each."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{bench.chat_port}", timeout=60) as http:
        ids = []
        for name in ("plain", "tooled"):
            r = await http.post("/api/v1/assistants", json={"name": name}, headers=bench.auth)
            r.raise_for_status()
            ids.append(r.json()["id"])
        tool = {
            "type": "http",
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
            "url": f"http://{HOST}:{tool_port}/tools/lookup",
        }
        (await http.post(f"/api/v1/assistants/{ids[1]}/tools", json=tool, headers=bench.auth)).raise_for_status()
        threads = []
        for assistant in ids:
            r = await http.post("/api/v1/threads", json={"assistant_id": assistant}, headers=bench.auth)
            r.raise_for_status()
            threads.append(r.json()["id"])
    return threads[0], threads[1]


def report_tools(r: dict[str, float]) -> None:
    print(
        f"tool round (1 stream, n={r['n']:.0f}, p50 ms): answer without tools {r['plain']:.1f}, with one tool round "
        f"{r['tool']:.1f}, direct model call {r['llm']:.1f}, direct tool call {r['toolsrv']:.1f}; "
        f"platform added per tool round p50 {r['added50']:.1f}, p90 {r['added90']:.1f}"
    )


def report(rows: list[dict[str, float]]) -> None:
    print(
        f"{'streams':>7} {'direct p50':>10} {'direct p99':>10} {'chat p50':>9} {'chat p99':>9} {'added p50':>9} "
        f"{'added p99':>9} {'ratio p50':>9} {'chat CPU/stream':>15} {'stand-in CPU/stream':>19}  (ms)"
    )
    for r in rows:
        print(
            f"{r['c']:>7} {r['d50']:>10.1f} {r['d99']:>10.1f} {r['c50']:>9.1f} {r['c99']:>9.1f} "
            f"{r['c50'] - r['d50']:>9.1f} {r['c99'] - r['d99']:>9.1f} {r['c50'] / r['d50']:>8.2f}x "
            f"{r['cpu_chat']:>15.2f} {r['cpu_llm']:>19.2f}   n={r['n']:.0f}, mean added {r['mean_added']:.1f}"
        )


async def run(
    pg_url: str, redis_url: str, rounds: dict[int, int], chat_target: str, factory: bool, tool_rounds: int = 0
) -> None:
    keys = TestKeys.generate()
    llm_port, chat_port, tool_port = free_port(), free_port(), free_port()
    env = os.environ | {
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "JWKS_JSON": keys.jwks_json,
        "LOG_LEVEL": "WARNING",
        "CHAT_LLM_BASE_URL": f"http://{HOST}:{llm_port}/v1",
        "CHAT_LLM_API_KEY": "sk-bench",
        "CHAT_TENANT_SETTINGS_URL": "",
        "AUTH_URL": "",
        "BENCH_CHUNK_DELAY": str(CHUNK_DELAY),
        "CHAT_TOOLS_ALLOW_PRIVATE_NETWORKS": "true",  # the tool server is on loopback
    }
    stand_in = subprocess.Popen(uvicorn_cmd("bench.chat:stand_in_app", llm_port, factory=True), env=env)  # noqa: ASYNC220 - set-up
    chat = subprocess.Popen(uvicorn_cmd(chat_target, chat_port, factory=factory), env=env)  # noqa: ASYNC220 - set-up
    tools = subprocess.Popen(uvicorn_cmd("bench.chat:tool_app", tool_port, factory=True), env=env)  # noqa: ASYNC220 - set-up
    try:
        wait_http(f"http://{HOST}:{llm_port}/v1/models", stand_in)
        wait_http(f"http://{HOST}:{chat_port}/health", chat)
        tenant = uuid.uuid4()
        headers = {"Authorization": f"Bearer {keys.mint(tenant_id=tenant, role='admin', ttl=3600)}"}
        bench = Bench(llm_port, chat_port, headers, {"llm": stand_in.pid, "chat": chat.pid})
        await bench.prepare_threads(1)
        for _ in range(10):  # warm-up: imports on first use, tiktoken, pools, the SDK client
            await bench.direct(0)
            await bench.via_chat(0)
        load = os.getloadavg()
        if tool_rounds:
            wait_http(f"http://{HOST}:{tool_port}/tools/lookup", tools)
            plain, tooled = await tool_setup(bench, tool_port)
            tool_bench = ToolBench(bench, tool_port, plain, tooled)
            await tool_bench.run(10)  # warm-up
            report_tools(await tool_bench.run(tool_rounds))
        if rounds:
            await bench.level(50, 1)
            report([await bench.level(c, n) for c, n in sorted(rounds.items())])
        print(
            f"load average (1 min) on this {os.cpu_count()}-core machine: {load[0]:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after"
        )
    finally:
        for p in (chat, stand_in, tools):
            p.terminate()
            p.wait(10)


def stand_in_app():
    from tests.support.llm import LLMStandIn

    stand_in = LLMStandIn(chunk_delay=float(os.environ.get("BENCH_CHUNK_DELAY", CHUNK_DELAY)))
    stand_in.auto_tool = {"name": "lookup", "arguments": {"order_id": "1"}}  # only where the tool is offered
    return stand_in.app


def tool_app():
    """A tool server that answers at once (and keeps no record: the bench runs long)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def lookup(request):
        await request.body()
        return JSONResponse({"ok": True, "status": "shipped"})

    return Starlette(routes=[Route("/tools/lookup", lookup, methods=["GET", "POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds-1", type=int, default=200, help="rounds of 1 stream (each side)")
    parser.add_argument("--rounds-50", type=int, default=10, help="rounds of 50 concurrent streams (each side)")
    parser.add_argument("--chat-app", default="services.chat.main:app", help="uvicorn target of the chat app")
    parser.add_argument("--factory", action="store_true", help="--chat-app is an app factory")
    parser.add_argument("--tool-rounds", type=int, default=100, help="rounds of the tool-round measure (0: skip)")
    parser.add_argument("--only-tools", action="store_true", help="only the tool-round measure")
    args = parser.parse_args()
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
        rounds = {} if args.only_tools else {1: args.rounds_1, 50: args.rounds_50}
        asyncio.run(run(url, rd.url, rounds, args.chat_app, args.factory, args.tool_rounds))
    finally:
        rd.stop()
        pg.stop()


if __name__ == "__main__":
    main()
