"""Where the gateway's per-request CPU goes: the same request through ever thicker layers, each counted two ways.

    python -m bench.gateway_split [--seconds 10] [--callgrind-seconds 20] [--concurrency 1] [--no-callgrind]

Layers (each its own uvicorn process in front of bench.gateway's upstream, the JWT route without rate limits
unless said): the upstream alone (the floor: uvicorn + a trivial ASGI app), a bare ASGI proxy over
gateway/upstream_client.py (server side + client, no edge logic), the edge alone (routing, header filtering,
cached JWT, security headers), the edge inside RequestContextMiddleware, the whole gateway app, the whole gateway
with the Redis rate limit, and nginx. Each layer is measured by

- instructions per request under valgrind's callgrind (user space only; counters zeroed after warm-up and
  dumped after a fixed load, so the number does not depend on how busy the machine is), and
- CPU µs per request (user and system, from /proc) when run natively, which includes the kernel.

Differences between consecutive layers give the split. Needs valgrind, nginx, wrk.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.gateway import NGINX_CONF, PATH, ROOT, free_port, machine, need, wait_port

# ----------------------------------------------------------------- layer apps (uvicorn --factory bench.gateway_split:X)


def bare_proxy():
    """Server side + the upstream client and nothing else: the floor of any ASGI proxy under uvicorn."""
    from gateway.upstream_client import UpstreamPool

    url = os.environ["GATEWAY_CHAT_UPSTREAM"]
    pool: list[UpstreamPool] = []
    skip = {b"date", b"server"}

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    pool.append(UpstreamPool("chat", url, max_connections=200, max_idle=100, connect_timeout=2))
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        more = True
        while more:
            msg = await receive()
            more = msg.get("more_body", False)
        headers = [(n, v) for n, v in scope["headers"] if n != b"host"]
        resp = await pool[0].request(scope["method"], scope["raw_path"], headers, None, read_timeout=30)
        out = [(n, v) for n, v in resp.headers if n.lower() not in skip]
        await send({"type": "http.response.start", "status": resp.status, "headers": out})
        async for chunk in resp.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        await resp.aclose()

    return app


def _gateway_layer(wrap_context: bool):
    from fastapi.responses import PlainTextResponse

    from gateway.app import EdgeMiddleware, create_app
    from shared.app import RequestContextMiddleware

    full = create_app()
    edge: list = []

    async def not_found(scope, receive, send):
        await PlainTextResponse("not found", 404)(scope, receive, send)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await full(scope, receive, send)  # builds the edge state, pools, verifier
            return
        if not edge:
            layer = EdgeMiddleware(not_found, state=full.state.edge)
            if wrap_context:
                from prometheus_client import CollectorRegistry

                layer = RequestContextMiddleware(layer, service="gateway", registry=CollectorRegistry())
            edge.append(layer)
        await edge[0](scope, receive, send)

    return app


def edge_only():
    """EdgeMiddleware straight under uvicorn: no FastAPI, no RequestContextMiddleware."""
    return _gateway_layer(False)


def edge_with_context():
    """EdgeMiddleware inside the shared RequestContextMiddleware, still without FastAPI/Starlette."""
    return _gateway_layer(True)


# ------------------------------------------------------------------ harness

LAYERS = [
    # name, uvicorn target (factory or app), rate limits
    ("upstream alone (floor: uvicorn + trivial app)", None, False),
    ("bare proxy (uvicorn + upstream client)", "bench.gateway_split:bare_proxy", False),
    ("edge only (no FastAPI, no context mw)", "bench.gateway_split:edge_only", False),
    ("edge + RequestContextMiddleware", "bench.gateway_split:edge_with_context", False),
    ("whole gateway app, no rate limit", "gateway.main:app", False),
    ("whole gateway app + rate limit", "gateway.main:app", True),
]


def proc_cpu(pid: int) -> tuple[float, float]:
    """(user, system) seconds of one process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _count(out: str) -> int:
    return int(re.search(r"(\d+) requests in", out).group(1))


def run_wrk(wrk_bin, url, conc, seconds, headers, warm: bool = False) -> tuple[int, dict]:
    threads = max(1, min(2, conc))
    argv = [wrk_bin, f"-t{threads}", f"-c{conc}", f"-d{seconds}s", "--timeout", "60s", url]  # slow under valgrind
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} non-2xx answers\n{out}")
    count = _count(out)
    if not count and not warm:
        raise SystemExit(f"{url}: no request completed in {seconds}s\n{out}")
    return count, {}


def callgrind_total(path: Path, timeout: float = 60) -> int:
    """Instructions in the one dump taken after the load (`<out>.1`; `<out>` itself is written at exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("summary:"):
                    return int(line.split()[1])
        time.sleep(0.5)
    raise SystemExit(f"no callgrind summary in {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="native load per layer")
    ap.add_argument("--callgrind-seconds", type=int, default=20, help="load per layer under callgrind")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated layer indexes (0-based) to run")
    args = ap.parse_args()
    nginx_bin, wrk_bin = need("nginx"), need("wrk")
    valgrind = None if args.no_callgrind else need("valgrind")

    from devtools.embedded import EmbeddedRedis
    from tests.support.keys import TestKeys

    tmp = Path(tempfile.mkdtemp(prefix="atende-bench-split-"))
    procs: list[subprocess.Popen] = []
    redis = None
    try:
        redis = EmbeddedRedis(tmp / "redis", port=free_port()).start()
        keys = TestKeys.generate()
        (tmp / "key.pem").write_text(keys.private_pem)
        uv = ["-m", "uvicorn", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        uv += ["--no-proxy-headers", "--no-server-header"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        env = os.environ | {"BENCH_KID": keys.kid, "BENCH_PEM": str(tmp / "key.pem"), "PYTHONPATH": str(ROOT)}

        up_port = free_port()
        up = subprocess.Popen([sys.executable, *uv, "bench.gateway:upstream", "--port", str(up_port)], env=env, **quiet)
        procs.append(up)
        wait_port(up_port, up, "upstream")
        upstream_url = f"http://127.0.0.1:{up_port}"
        gw_env = env | {
            f"GATEWAY_{n}_UPSTREAM": upstream_url for n in ("AUTH", "CHAT", "CHANNELS", "TRANSCRIPTION", "SEARCH")
        }
        huge = "100000000/minute"
        gw_env |= {
            "REDIS_URL": redis.url,
            "JWKS_JSON": keys.jwks_json,
            "LOG_LEVEL": "WARNING",
            "GATEWAY_RATE_LIMITS": f'{{"default": {{"user": "{huge}", "api_key": "{huge}", "tenant": ""}}}}',
        }
        auth = {"Authorization": f"Bearer {keys.mint(tenant_id=uuid.uuid4(), role='admin')}"}
        print(f"machine: {machine()}")
        print(
            f"concurrency {args.concurrency}; native {args.seconds}s, callgrind {args.callgrind_seconds}s per layer\n"
        )
        rows = []
        wanted = {int(i) for i in args.only.split(",")} if args.only else None
        layers = [*LAYERS, ("nginx (proxy_pass, keepalive)", "nginx", False)]
        for index, (name, target, limited) in enumerate(layers):
            if wanted is not None and index not in wanted:
                continue
            row = {"name": name}
            for mode in ("native", "callgrind") if valgrind else ("native",):
                port = up_port if target is None and mode == "native" else free_port()
                out_file = tmp / f"cg.{index}.out"
                # instrumentation off until warmed up: a FastAPI import under full callgrind takes many minutes
                prefix = [valgrind, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}"]
                prefix = prefix if mode == "callgrind" else []
                proc = None
                if target is None and mode == "native":
                    proc = up
                elif target == "nginx":
                    conf = tmp / "nginx.conf"
                    conf.write_text(NGINX_CONF.format(workers=1, dir=tmp, upstream=up_port, port=port))
                    extra = "daemon off; master_process off;"
                    proc = subprocess.Popen([*prefix, nginx_bin, "-c", str(conf), "-g", extra], **quiet)
                elif target is None:
                    argv = [*prefix, sys.executable, *uv, "bench.gateway:upstream", "--port", str(port)]
                    proc = subprocess.Popen(argv, env=env, **quiet)
                else:
                    factory = ["--factory"] if target.startswith("bench.") else []
                    argv = [*prefix, sys.executable, *uv, *factory, target, "--port", str(port)]
                    genv = gw_env | {"GATEWAY_RATE_LIMITS_ENABLED": "true" if limited else "false"}
                    proc = subprocess.Popen(argv, env=genv, **quiet)
                if proc is not up:
                    procs.append(proc)
                wait_port(port, proc, name, timeout=900)
                url = f"http://127.0.0.1:{port}{PATH}"
                headers = {} if target in (None, "nginx") else auth
                run_wrk(wrk_bin, url, args.concurrency, 2, headers, warm=True)  # pools, caches, lazy imports
                if mode == "native":
                    u0, s0 = proc_cpu(proc.pid)
                    n, _ = run_wrk(wrk_bin, url, args.concurrency, args.seconds, headers)
                    u1, s1 = proc_cpu(proc.pid)
                    row |= {"n": n, "user_us": (u1 - u0) / n * 1e6, "sys_us": (s1 - s0) / n * 1e6}
                else:
                    subprocess.run(["callgrind_control", "--instr=on", str(proc.pid)], check=True, **quiet)
                    run_wrk(wrk_bin, url, args.concurrency, 5, headers, warm=True)  # warm again, instrumented
                    subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, **quiet)
                    n, _ = run_wrk(wrk_bin, url, args.concurrency, args.callgrind_seconds, headers)
                    subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True, **quiet)
                    row |= {"cg_n": n, "instr": callgrind_total(Path(f"{out_file}.1")) / n}
                if proc is not up:
                    proc.send_signal(signal.SIGQUIT if target == "nginx" else signal.SIGTERM)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            rows.append(row)
            print(_row(row), flush=True)
        print()
        _table(rows)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if redis is not None:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _row(r: dict) -> str:
    instr = f"{r['instr'] / 1000:,.0f}k | {r['cg_n']}" if "instr" in r else " | "
    cpu = f"{r['user_us']:.0f} | {r['sys_us']:.0f} | {r['user_us'] + r['sys_us']:.0f}"
    return f"| {r['name']} | {cpu} | {instr} |"


def _table(rows: list[dict]) -> None:
    # periodic work (uvicorn's 10 Hz tick, the log forwarder's poll) is spread over the requests served: the fewer
    # requests a busy box lets through under callgrind, the higher instructions/req (a few per cent)
    print("| layer | user µs/req | system µs/req | CPU µs/req | instructions/req (callgrind) | requests counted |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(_row(r))


if __name__ == "__main__":
    main()
