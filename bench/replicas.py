"""N API processes on one port, each with its own listening socket (SO_REUSEPORT), as N replicas behind a load
balancer: `python -m bench.replicas services.channels.main:app --port 8003 --processes 2`.

Why not `uvicorn --workers N`: its workers share one listening socket, and a connection goes to whichever worker
calls accept() first. A load generator (or a proxy) that opens its keep-alive connections in one burst can then
land all of them on one worker: measured on the 2-vCPU guest (docs/pipeline.md, "Giving the webhook tier the
CPU"), one worker ran at 0.8 of a core with every request while the other served none, and the ack rate fell by a
third. We deploy one process per container and scale with replicas (deploy/k8s), where the Service spreads
connections; with its own socket per process the kernel spreads them the same way (a hash of each connection's
addresses), so the bench measures what is deployed.

The parent only supervises: SIGTERM/SIGINT stop every child (uvicorn's graceful shutdown); a child that exits on
its own stops the rest and the parent exits non-zero (the bench treats it as a failed run)."""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import sys

_PR_SET_PDEATHSIG = 1


def _serve(args) -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((args.host, args.port))
    sock.listen(2048)
    sock.set_inheritable(True)
    config = uvicorn.Config(
        args.app, loop="uvloop", http="httptools", log_level="warning", access_log=False, factory=args.factory
    )
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--factory", action="store_true")
    args = parser.parse_args()
    children: list[int] = []
    for _ in range(max(1, args.processes)):
        pid = os.fork()
        if pid == 0:
            try:
                _serve(args)
            finally:
                os._exit(0)
        children.append(pid)

    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        children.remove(pid)
        if not stopping:  # a replica died on its own: stop the rest, fail
            code = 1
            stop(None, None)
    sys.exit(code)


if __name__ == "__main__":
    main()
