"""Container health check (Docker HEALTHCHECK and the worker probes in Kubernetes); standard library only.

It finds the process it checks in /proc, so one image-wide HEALTHCHECK serves every role:
- an API (`uvicorn ... --port N`): GET http://127.0.0.1:N/health must answer 200;
- a worker (`python -m services.<name>.worker`) or any other process: Redis and Postgres (REDIS_URL,
  DATABASE_URL) must accept a TCP connection and Redis must answer PING — a worker cut off from them does nothing.
`healthcheck.py http 8001` or `healthcheck.py worker` skips the discovery. Exit 0 healthy, 1 not.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

TIMEOUT = 3.0


def discover() -> list[str]:
    """`["http", port]` for the first uvicorn found in /proc, else `["worker"]`."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = [a.decode() for a in cmdline.read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if any(a.endswith("uvicorn") for a in argv[:3]) and "--port" in argv:
            return ["http", argv[argv.index("--port") + 1]]
    return ["worker"]


def check_http(port: str) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{int(port)}/health", timeout=TIMEOUT) as resp:  # noqa: S310
        if resp.status != 200:
            raise RuntimeError(f"/health answered {resp.status}")


def tcp(url: str, default_port: int) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=TIMEOUT)


def check_worker() -> None:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    with tcp(redis_url, 6379) as sock:
        # TLS (rediss://): the TCP handshake is what this check sees without a TLS client.
        if not redis_url.startswith("rediss://"):
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
            # Without credentials a password-protected Redis answers -NOAUTH: it is up, which is all this checks.
            if not (answer.startswith(b"+PONG") or b"NOAUTH" in answer):
                raise RuntimeError(f"redis answered {answer[:40]!r}")
    with tcp(os.environ.get("DATABASE_URL", "postgresql://127.0.0.1:5432/atende"), 5432):
        pass


def main(argv: list[str]) -> int:
    mode = argv or discover()
    try:
        if mode[0] == "http":
            check_http(mode[1])
        else:
            check_worker()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
