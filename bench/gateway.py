"""Gateway vs nginx: the same upstream reached directly, through nginx (plain proxy_pass), and through the gateway.

    python -m bench.gateway [--duration 5] [--concurrency 1,16,64] [--gateway-workers 1] [--nginx-workers 1]

Starts a Redis (embedded), an upstream (a minimal ASGI JSON endpoint under uvicorn/uvloop/httptools, which also
plays auth's internal service-token / token-exchange endpoints with a throwaway signing key), nginx as a keep-alive
proxy_pass, and gateways; drives each with wrk on loopback; prints rps, p50, p99, then gateway/nginx and the
latency the gateway adds over direct, and the CPU per request of the proxy and of the upstream (the upstream's
is the floor of a Python ASGI proxy: one more uvicorn app, plus a client). Needs the Debian packages nginx and wrk.
Where the gateway's CPU goes, layer by layer (callgrind instruction counts): bench/gateway_split.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
PATH = "/api/v1/assistants"  # routed to chat: a JWT/API-key route with the default rate-limit group
WEBHOOK_PATH = "/webhooks/twilio/3f1c2a9e-8d7b-4c6a-9e5f-0a1b2c3d4e5f"  # no credentials; the `webhooks` group
BODY = b'{"items":[{"id":"a1","name":"Support","model":"gpt-4o-mini"}],"next_cursor":null}'

# ---------------------------------------------------- the upstream (imported by uvicorn: bench.gateway:upstream)


def _upstream_tokens():
    from tests.support.keys import TestKeys

    keys = TestKeys(
        kid=os.environ["BENCH_KID"],
        private_pem=Path(os.environ["BENCH_PEM"]).read_text(),
        jwks={},
    )
    tenant = str(uuid.uuid4())
    return {
        b"/internal/v1/service-token": keys.mint(sub="svc:gateway", role=None, scopes=["internal"], ttl=900),
        b"/internal/v1/token-exchange": keys.mint(
            sub="key:bench-key", tenant_id=tenant, role=None, scopes=["read", "write"], ttl=300
        ),
    }


_TOKENS: dict[bytes, str] = {}


async def upstream(scope, receive, send):
    """The smallest honest service: reads the request, answers JSON with a Content-Length."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                _TOKENS.update(_upstream_tokens())
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        msg = await receive()
        more = msg.get("more_body", False)
    body = BODY
    token = _TOKENS.get(scope["raw_path"])
    if token is not None:
        body = (
            b'{"access_token":"%s","token_type":"bearer","expires_in":300,"key_id":"bench-key",'
            b'"tenant_id":"00000000-0000-0000-0000-000000000000","scopes":["read","write"]}' % token.encode()
        )
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------ the harness

NGINX_CONF = """
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
user root root;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} while starting")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on {port} within {timeout}s")


def need(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if not path:
        raise SystemExit(
            f"'{binary}' is not installed. On Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y nginx wrk"
        )
    return path


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(wrk_bin: str, url: str, concurrency: int, duration: int, headers: dict[str, str]) -> dict[str, float]:
    threads = max(1, min(2, concurrency))
    argv = [wrk_bin, f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--latency", url]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": errors.group(1) if errors else "",
    }


def cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and all its children (nginx workers, uvicorn workers)."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return (
        f"{cpu}, {os.cpu_count()} vCPU, Linux {platform.release()}, Python {platform.python_version()}, "
        f"load average at start {load[0]:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--gateway-workers", type=int, default=1)
    ap.add_argument("--nginx-workers", type=int, default=1)
    ap.add_argument("--upstream-workers", type=int, default=1)
    ap.add_argument("--access-log", action="store_true", help="keep the gateway's per-request JSON access log on")
    ap.add_argument(
        "--baseline",
        default="",
        help="also run the gateway of this git ref (its gateway/ and shared/, extracted with git archive) side by side",
    )
    args = ap.parse_args()
    nginx_bin, wrk_bin = need("nginx"), need("wrk")
    levels = [int(c) for c in args.concurrency.split(",")]

    from devtools.embedded import EmbeddedRedis
    from tests.support.keys import TestKeys

    tmp = Path(tempfile.mkdtemp(prefix="atende-bench-gw-"))
    procs: list[subprocess.Popen] = []
    redis = None
    try:
        redis = EmbeddedRedis(tmp / "redis", port=free_port()).start()
        keys = TestKeys.generate()
        (tmp / "key.pem").write_text(keys.private_pem)
        py = [sys.executable, "-m", "uvicorn", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}

        up_port = free_port()
        env = os.environ | {"BENCH_KID": keys.kid, "BENCH_PEM": str(tmp / "key.pem"), "PYTHONPATH": str(ROOT)}
        up_argv = [*py, "bench.gateway:upstream", "--port", str(up_port), "--workers", str(args.upstream_workers)]
        procs.append(subprocess.Popen(up_argv, cwd=ROOT, env=env, **quiet))
        wait_port(up_port, procs[-1], "upstream")

        ngx_port = free_port()
        (tmp / "nginx.conf").write_text(
            NGINX_CONF.format(workers=args.nginx_workers, dir=tmp, upstream=up_port, port=ngx_port)
        )
        procs.append(subprocess.Popen([nginx_bin, "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"], **quiet))
        wait_port(ngx_port, procs[-1], "nginx")

        upstream_url = f"http://127.0.0.1:{up_port}"
        huge = "100000000/minute"
        gw_env = env | {
            f"GATEWAY_{n}_UPSTREAM": upstream_url for n in ("AUTH", "CHAT", "CHANNELS", "TRANSCRIPTION", "SEARCH")
        }
        gw_env |= {
            "REDIS_URL": redis.url,
            "JWKS_JSON": keys.jwks_json,
            "LOG_LEVEL": "INFO" if args.access_log else "WARNING",
        }
        gateways: dict[str, tuple[int, int]] = {}  # name -> (port, pid)
        variants = [("", ROOT)]
        if args.baseline:
            old = tmp / "baseline"
            old.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.baseline, "gateway", "shared"], cwd=ROOT, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            variants.append(("baseline ", old))
        for prefix, src in variants:
            limits = _rate_limits(huge, webhook_kind=_webhook_limit_kind(src))
            for name, extra in (
                ("gateway_norl", {"GATEWAY_RATE_LIMITS_ENABLED": "false"}),
                ("gateway", {"GATEWAY_RATE_LIMITS": limits}),
            ):
                port = free_port()
                argv = [*py, "gateway.main:app", "--port", str(port), "--workers", str(args.gateway_workers)]
                argv += ["--no-proxy-headers", "--no-server-header"]
                genv = gw_env | extra | {"PYTHONPATH": str(src)}
                procs.append(subprocess.Popen(argv, cwd=src, env=genv, **quiet))
                wait_port(port, procs[-1], prefix + name)
                gateways[prefix + name] = (port, procs[-1].pid)

        jwt = keys.mint(tenant_id=uuid.uuid4(), role="admin")
        ngx_pid = procs[1].pid
        targets = [
            ("direct", f"{upstream_url}{PATH}", {}, None),
            ("nginx", f"http://127.0.0.1:{ngx_port}{PATH}", {}, ngx_pid),
        ]
        api_key = {"X-API-Key": "atd_benchkey_" + "k" * 43}
        for prefix, _ in variants:
            (norl_port, norl_pid), (gw_port, gw_pid) = gateways[prefix + "gateway_norl"], gateways[prefix + "gateway"]
            targets += [
                (f"{prefix}gateway JWT, no rate limit", f"http://127.0.0.1:{norl_port}{PATH}", _bearer(jwt), norl_pid),
                (f"{prefix}gateway JWT + rate limit", f"http://127.0.0.1:{gw_port}{PATH}", _bearer(jwt), gw_pid),
                (f"{prefix}gateway API key + rate limit", f"http://127.0.0.1:{gw_port}{PATH}", api_key, gw_pid),
                (f"{prefix}gateway webhook + rate limit", f"http://127.0.0.1:{gw_port}{WEBHOOK_PATH}", {}, gw_pid),
            ]
        print(f"machine: {machine()}")
        print(
            f"workers: upstream {args.upstream_workers}, nginx {args.nginx_workers}, gateway {args.gateway_workers}; "
            f"wrk {args.duration}s per cell; access log {'on' if args.access_log else 'off'}\n"
        )
        results: dict[tuple[str, int], dict[str, float]] = {}
        for _, url, headers, _ in targets:  # warm: pools, caches, the API key exchange
            wrk(wrk_bin, url, 4, 1, headers)
        up_pid = procs[0].pid
        for c in levels:
            for name, url, headers, pid in targets:
                before = cpu_seconds(pid) if pid else 0.0
                up_before = cpu_seconds(up_pid)
                results[(name, c)] = r = wrk(wrk_bin, url, c, args.duration, headers)
                spent = cpu_seconds(pid) - before if pid else 0.0
                up_spent = cpu_seconds(up_pid) - up_before
                done = r["rps"] * args.duration
                r["cpu_us"] = spent / done * 1e6 if pid and done else 0.0
                r["up_cpu_us"] = up_spent / done * 1e6 if done else 0.0
                if r["non2xx"] or r["errors"]:
                    print(f"  ! {name} c={c}: {r['non2xx']} non-2xx, socket errors: {r['errors'] or 'none'}")
        _table(results, targets, levels)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM if p.args[0] != nginx_bin else signal.SIGQUIT)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if redis is not None:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _webhook_limit_kind(src: Path) -> str:
    """Webhooks are limited per channel since issue #22; a baseline from before limits them per IP."""
    return "channel" if '"channel"' in (src / "gateway" / "config.py").read_text() else "ip"


def _rate_limits(huge: str, *, webhook_kind: str) -> str:
    """Limits that never refuse, so every row pays for the counting and none is throttled."""
    return orjson.dumps(
        {"default": {"user": huge, "api_key": huge, "tenant": ""}, "webhooks": {webhook_kind: huge}}
    ).decode()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _table(results, targets, levels) -> None:
    print(
        "| target | conc. | rps | p50 ms | p99 ms | rps / nginx | p50 added vs direct ms | proxy CPU µs/req "
        "| upstream CPU µs/req |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in levels:
        nginx = results[("nginx", c)]
        direct = results[("direct", c)]
        for name, _, _, _ in targets:
            r = results[(name, c)]
            ratio = r["rps"] / nginx["rps"] if nginx["rps"] else 0
            added = r["p50"] - direct["p50"]
            print(
                f"| {name} | {c} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {ratio:.2f} | "
                f"{'' if name == 'direct' else f'{added:+.2f}'} | {r['cpu_us']:.0f} | {r['up_cpu_us']:.0f} |"
            )


if __name__ == "__main__":
    main()
