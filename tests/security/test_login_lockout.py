"""Nobody can lock an owner out (issue #22 item 5): wrong passwords are limited per (account, client) tightly, per
account loosely and per client over all accounts, and auth counts the client's address behind the gateway, not the
gateway's. Every request goes through the gateway, which trusts the test client as a proxy (X-Forwarded-For)."""

from __future__ import annotations

import asyncio

from tests.support.platform import PASSWORD, from_ip, platform

LIMITS = {
    "login_limit_account_client": "3/minute",  # tight: one client guessing one account
    "login_limit_account": "10/minute",  # loose: every client together, one account
    "login_limit_ip": "20/minute",  # one client, every account
}


def _login(email: str, password: str) -> dict:
    return {"email": email, "password": password}


async def test_attacker_cannot_lock_the_owner_out(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, client_ips=True, settings={"auth": LIMITS}) as p:
        owner = await p.tenant("Owner")
        # One attacker, one address: a dozen wrong passwords for the owner's account.
        attacker = []
        for _ in range(12):
            r = await p.gw.post(
                "/api/v1/auth/login", json=_login(owner.email, "wrong-password-1"), headers=from_ip("10.0.0.66")
            )
            attacker.append(r)
        # The owner, from their own address, still gets in with the right password (auth counted 10.0.0.66's failures
        # against 10.0.0.66, not against the gateway's address that both requests come from).
        r = await p.gw.post("/api/v1/auth/login", json=_login(owner.email, PASSWORD), headers=from_ip("10.0.0.7"))
        assert r.status_code == 200, f"owner locked out: {r.status_code} {r.text}"
        # The attacker was refused after the tight per-(account, client) limit, with a Retry-After.
        assert [a.status_code for a in attacker] == [401] * 3 + [429] * 9
        refused = attacker[-1]
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["content-type"].startswith("application/problem+json")
        # ... and still is, even with the right password (no oracle while refused).
        r = await p.gw.post("/api/v1/auth/login", json=_login(owner.email, PASSWORD), headers=from_ip("10.0.0.66"))
        assert r.status_code == 429

        # Distributed guessing: new addresses, two guesses each (under the tight limit), stop at the loose limit.
        statuses = []
        for i in range(1, 8):
            for _ in range(2):
                r = await p.gw.post(
                    "/api/v1/auth/login", json=_login(owner.email, "wrong-password-2"), headers=from_ip(f"10.0.1.{i}")
                )
                statuses.append(r.status_code)
        assert statuses.count(401) == 10 - 3, statuses  # 3 from 10.0.0.66 + 7 here = the loose limit
        assert statuses[-1] == 429
        r = await p.gw.post(
            "/api/v1/auth/login", json=_login(owner.email, "wrong-password-3"), headers=from_ip("10.0.2.1")
        )
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


async def test_one_client_guessing_many_accounts_is_refused(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path, client_ips=True, settings={"auth": LIMITS}) as p:
        await p.tenant("Spray")
        statuses = []
        for i in range(25):
            r = await p.gw.post(
                "/api/v1/auth/login",
                json=_login(f"user{i}@example.com", "wrong-password-1"),
                headers=from_ip("10.0.3.3"),
            )
            statuses.append(r.status_code)
        assert statuses == [401] * 20 + [429] * 5
        # another client is not affected
        r = await p.gw.post(
            "/api/v1/auth/login", json=_login("user0@example.com", "x" * 12), headers=from_ip("10.0.3.4")
        )
        assert r.status_code == 401


async def test_parallel_guesses_are_held_to_the_limit(stack, committed_db, redis, tmp_path):
    """25 wrong passwords at once from one client: at most the tight limit of them are even checked."""
    async with platform(stack, tmp_path, client_ips=True, settings={"auth": LIMITS}) as p:
        owner = await p.tenant("Racer")
        answers = await asyncio.gather(
            *(
                p.gw.post(
                    "/api/v1/auth/login", json=_login(owner.email, f"wrong-password-{i}"), headers=from_ip("10.0.4.4")
                )
                for i in range(25)
            )
        )
        statuses = [a.status_code for a in answers]
        assert statuses.count(401) <= 3 and statuses.count(429) == 25 - statuses.count(401), statuses
        r = await p.gw.post("/api/v1/auth/login", json=_login(owner.email, PASSWORD), headers=from_ip("10.0.4.5"))
        assert r.status_code == 200, r.text
