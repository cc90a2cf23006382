"""Postgres and Redis for the dev stack: embedded or the user's, the ports they need, and reachability checks."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from devtools.embedded import EmbeddedPostgres, EmbeddedRedis
from devtools.settings import ConfigError, DevSettings, explicit
from devtools.supervisor import say
from shared.migrations import safe_url


def _bind_error(port: int, host: str) -> int | None:
    """The errno binding host:port fails with now, or None if it is free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno or errno.EADDRINUSE
    return None


def check_ports(ports: list[tuple[int, str, str, str]]) -> None:
    """(port, host, what, setting): fail with one line per clash, port already taken or not ours to bind."""
    seen: dict[int, str] = {}
    problems = []
    for port, host, what, setting in ports:
        if port in seen:
            problems.append(f"port {port} is configured twice ({seen[port]} and {what}); change {setting}")
            continue
        seen[port] = what
        error = _bind_error(port, host or "127.0.0.1")
        if error == errno.EACCES:
            problems.append(f"port {port} needs more privileges than this user has ({what}); set {setting}")
        elif error == errno.EADDRNOTAVAIL:
            problems.append(f"address {host} is not on this machine ({what}); change its HOST setting")
        elif error is not None:
            problems.append(f"port {port} is already in use ({what}); stop what uses it or set {setting}")
    if problems:
        raise ConfigError("\n".join(problems))


@dataclass
class Servers:
    """Where Postgres and Redis are, embedded or the user's."""

    database_url: str
    redis_url: str
    pg: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.pg is not None:
            self.pg.stop()
            self.pg = None


def plan_servers(dev: DevSettings) -> tuple[str | None, str | None]:
    """The user's DATABASE_URL / REDIS_URL if set (env or .env); None = start the embedded one."""
    return explicit("DATABASE_URL"), explicit("REDIS_URL")


def start_servers(dev: DevSettings, db_url: str | None, redis_url: str | None, servers: Servers) -> None:
    """Start what is not given (into `servers`, so a failure midway still stops what started)."""
    data = dev.data_dir.resolve()
    if db_url is None:
        say(f"starting embedded PostgreSQL 16 + pgvector on 127.0.0.1:{dev.pg_port} (data in {data / 'postgres'})")
        servers.pg = EmbeddedPostgres(data / "postgres", port=dev.pg_port)
        servers.pg.start()
        servers.database_url = servers.pg.url
    if redis_url is None:
        say(f"starting embedded Redis on 127.0.0.1:{dev.redis_port} (data in {data / 'redis'})")
        servers.redis = EmbeddedRedis(data / "redis", port=dev.redis_port)
        servers.redis.start()
        servers.redis_url = servers.redis.url


def server_ports(dev: DevSettings, db_url: str | None, redis_url: str | None) -> list[tuple[int, str, str, str]]:
    ports = []
    if db_url is None:
        ports.append((dev.pg_port, "127.0.0.1", "embedded PostgreSQL", "DEV_PG_PORT (or DATABASE_URL)"))
    if redis_url is None:
        ports.append((dev.redis_port, "127.0.0.1", "embedded Redis", "DEV_REDIS_PORT (or REDIS_URL)"))
    return ports


def check_redis(redis_url: str, timeout: float = 5.0) -> None:
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        raise ConnectionError(f"cannot use Redis at {safe_url(redis_url)}: {exc}") from None
    finally:
        client.close()
