"""shared/auth.py guards: the caller is re-verified on every request, never carried over from another."""

import uuid

from fastapi import APIRouter

from services.search.config import SearchSettings
from shared.app import create_service_app
from shared.auth import CurrentPrincipal, TenantIdDep, WriteScope
from tests.support.plugin import app_client


def _app(stack):
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(p: CurrentPrincipal, tid: TenantIdDep):
        return {"sub": p.sub, "tid": str(tid)}

    @router.post("/write", dependencies=[WriteScope])
    async def write():
        return {"ok": True}

    return create_service_app(stack.settings(SearchSettings), title="t", routers=[router])


async def test_principal_is_per_request(stack, make_token):
    a, b = uuid.uuid4(), uuid.uuid4()
    async with app_client(_app(stack)) as client:
        for tid in (a, b, a):
            r = await client.get("/whoami", headers={"Authorization": f"Bearer {make_token(tenant_id=tid)}"})
            assert r.json()["tid"] == str(tid)
        assert (await client.get("/whoami")).status_code == 401


async def test_scope_and_disabled_tenant(stack, make_token, redis):
    tid = uuid.uuid4()
    reader = make_token(tenant_id=tid, role="viewer", scopes=["read"])
    writer = make_token(tenant_id=tid, role="agent", scopes=["read", "write"])
    async with app_client(_app(stack)) as client:
        assert (await client.post("/write", headers={"Authorization": f"Bearer {reader}"})).status_code == 403
        assert (await client.post("/write", headers={"Authorization": f"Bearer {writer}"})).status_code == 200
        await redis.set(f"auth:disabled:tenant:{tid}", "1")
        r = await client.post("/write", headers={"Authorization": f"Bearer {writer}"})
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


async def test_forged_tokens_refused(stack, keys):
    from jose import jwt

    good = keys.mint(tenant_id=uuid.uuid4())
    header, payload, sig = good.split(".")
    unsigned = jwt.encode({"sub": "x", "aud": "atende", "iss": "atende-auth"}, "k", algorithm="HS256")
    async with app_client(_app(stack)) as client:
        for token in (
            f"{header}.{payload}x.{sig}",
            unsigned,
            "garbage",
            keys.mint(ttl=-10),
            keys.mint(aud="other"),
            keys.mint(iss="someone"),
        ):
            r = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, token


async def test_an_inactive_tenant_is_open_to_a_platform_superuser_only(stack, make_token, redis):
    """One rule for every service: the `inactive` flag lets a superuser's user token through; `deleted` nobody."""
    tid = uuid.uuid4()
    member = make_token(tenant_id=tid, role="agent", scopes=["read", "write"])
    su = make_token(tenant_id=tid, superuser=True)
    su_key = make_token(sub=f"key:{uuid.uuid4()}", tenant_id=tid, role=None, superuser=True)
    async with app_client(_app(stack)) as client:

        async def status(token: str) -> int:
            return (await client.post("/write", headers={"Authorization": f"Bearer {token}"})).status_code

        await redis.set(f"auth:disabled:tenant:{tid}", "inactive")
        assert [await status(t) for t in (member, su, su_key)] == [403, 200, 403]  # API.md: inactive -> 403
        await redis.set(f"auth:disabled:tenant:{tid}", "deleted")
        assert [await status(t) for t in (member, su, su_key)] == [401, 401, 401]
