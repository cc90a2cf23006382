"""The gateway's own controls (issue #22 items 7, 11d and the webhook part of 8), replayed through the real stack:
failed authentication is limited per client and stops costing calls to auth, /ready tells strangers only up/down,
and webhook limits are per channel, so two tenants behind one provider address do not share one budget."""

from __future__ import annotations

import secrets

import httpx

from gateway.config import DEFAULT_RATE_LIMITS
from tests.support.platform import PASSWORD, from_ip, platform

TWILIO_TOKEN = "twilio-edge-limits-token"


async def _exchange_calls(auth_url: str) -> float:
    """Token exchanges auth has answered, from its own Prometheus counter."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{auth_url}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("http_requests_total{") and 'route="/internal/v1/token-exchange"' in line
    )


async def test_failed_authentication_is_limited_per_client(stack, committed_db, redis, tmp_path):
    limits = {group: dict(kinds) for group, kinds in DEFAULT_RATE_LIMITS.items()}  # the shipped defaults
    async with platform(stack, tmp_path, rate_limits=limits, client_ips=True) as p:
        t = await p.tenant("Guarded")
        before = await _exchange_calls(p.urls["auth"])
        answers = []
        for i in range(400):
            if i % 2:
                headers = {"X-API-Key": "atd_" + secrets.token_urlsafe(24)}  # a different random key every time
            else:
                headers = {"Authorization": f"Bearer {secrets.token_urlsafe(16)}.{secrets.token_urlsafe(32)}.x"}
            answers.append(await p.gw.get("/api/v1/threads", headers=from_ip("10.0.0.99", headers)))
        statuses = [a.status_code for a in answers]
        assert set(statuses) <= {401, 429}, statuses
        first = statuses.index(429) if 429 in statuses else None
        assert first is not None and first < 100, f"first 429 at {first}"
        assert statuses[first:] == [429] * (400 - first)  # once over, every further try is refused
        refused = answers[-1]
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["content-type"].startswith("application/problem+json")
        exchanges = await _exchange_calls(p.urls["auth"]) - before
        assert exchanges < 60, f"{exchanges} token exchanges for 200 random keys"
        # another client, and the tenant's real key from it, are not affected
        r = await p.gw.get("/api/v1/threads", headers=from_ip("10.0.0.98", t.key_headers))
        assert r.status_code == 200, r.text
        r = await p.gw.get("/api/v1/threads", headers=from_ip("10.0.0.98", {"X-API-Key": "atd_nope"}))
        assert r.status_code == 401


async def test_ready_tells_strangers_only_up_or_down(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        await p.tenant("First")  # the first account of an empty install is the platform superuser
        t = await p.tenant("Ops")
        me = (await p.gw.get("/api/v1/auth/me", headers=t.headers)).json()
        assert me["is_superuser"] is False
        r = await p.gw.get("/ready")
        assert r.status_code == 200
        assert r.json() == {"status": "ready"}, r.text
        assert "127.0.0.1" not in r.text and "latency" not in r.text
        # a tenant's owner is no operator of the platform
        r = await p.gw.get("/ready", headers=t.headers)
        assert r.json() == {"status": "ready"}, r.text
        # a platform superuser sees every upstream, its URL and latency
        await p.execute('UPDATE auth."user" SET is_superuser = true WHERE id = :i', i=t.user_id)
        login = await p.gw.post("/api/v1/auth/login", json={"email": t.email, "password": PASSWORD})
        su = {"Authorization": f"Bearer {login.json()['access_token']}"}
        r = await p.gw.get("/ready", headers=su)
        assert r.status_code == 200
        checks = r.json()["checks"]
        assert {"auth", "chat", "channels", "transcription", "search", "redis"} == set(checks)
        assert checks["auth"]["url"].startswith("http://127.0.0.1:") and checks["auth"]["latency_ms"] >= 0


async def test_webhook_limits_are_per_channel(stack, committed_db, redis, tmp_path):
    # the shipped webhook limits, each scaled down to 5 a minute whatever it is keyed on
    limits = {"webhooks": {kind: "5/minute" if spec else "" for kind, spec in DEFAULT_RATE_LIMITS["webhooks"].items()}}
    async with platform(stack, tmp_path, tw_token=TWILIO_TOKEN, rate_limits=limits) as p:
        a = await p.channel(await p.tenant("Busy"), "twilio", auth_token=TWILIO_TOKEN)
        b = await p.channel(await p.tenant("Quiet"), "twilio", auth_token=TWILIO_TOKEN)
        # both tenants' webhooks come from the same provider address (here: the test client's)
        flood = [(await p.twilio(a, f"SMa{i:032d}", "hi")).status_code for i in range(8)]
        quiet = (await p.twilio(b, "SMb" + "0" * 32, "hello")).status_code
        assert quiet == 200, f"tenant B's webhook refused while tenant A floods: {quiet}"
        assert flood[:5] == [200] * 5 and flood[5:] == [429] * 3, flood
        refused = await p.twilio(a, "SMa" + "9" * 32, "again")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        for i in range(1, 5):
            r = await p.twilio(b, f"SMb{i:032d}", "still here")
            assert r.status_code == 200, r.text
