"""The JWKS cache replaces its fetched key set, keeps the last good one when the JWKS is unreachable or empty,
never takes a retired kid back, and drops the verified tokens of every key that left (issue #22, item 3)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from fastapi import FastAPI, Response

from shared.auth import JWKSCache, TokenVerifier
from shared.errors import Unauthorized
from tests.support.keys import TestKeys
from tests.support.plugin import serve_app


class JWKSServer:
    """auth's /.well-known/jwks.json, whose answer the test changes."""

    def __init__(self, jwks: dict) -> None:
        self.jwks: dict | None = jwks
        self.app = FastAPI()

        @self.app.get("/jwks.json")
        async def jwks() -> Response:
            if self.jwks is None:
                return Response(status_code=500)
            return Response(content=orjson.dumps(self.jwks), media_type="application/json")


async def test_refresh_replaces_keeps_last_good_and_drops_tokens():
    one, two = TestKeys.generate(), TestKeys.generate()
    server = JWKSServer(one.jwks)
    async with serve_app(server.app) as url, httpx.AsyncClient() as http:
        jwks = JWKSCache(url=f"{url}/jwks.json", http=http)
        verifier = TokenVerifier(jwks, one.audience, one.issuer)
        gone: list[set[str]] = []
        verifier.on_keys_gone.append(gone.append)
        old = one.mint()
        assert (await verifier.verify(old)).sub  # fetched on the unknown kid, then cached

        server.jwks = None  # auth down: the last good set stays
        await verifier.jwks.refresh()
        assert set(jwks.keys) == {one.kid} and (await verifier.verify(old)).sub
        server.jwks = {"keys": []}  # an empty answer never empties the cache
        await verifier.jwks.refresh()
        assert set(jwks.keys) == {one.kid}

        server.jwks = two.jwks  # `one` retired at auth: the next refresh replaces, not merges
        await verifier.jwks.refresh()
        assert set(jwks.keys) == {two.kid} and gone == [{one.kid}]
        with pytest.raises(Unauthorized):
            await verifier.verify(old)  # the cached verification went with its key
        assert (await verifier.verify(two.mint())).sub


async def test_retired_kid_never_comes_back_from_a_stale_jwks():
    one = TestKeys.generate()
    server = JWKSServer(one.jwks)
    async with serve_app(server.app) as url, httpx.AsyncClient() as http:
        jwks = JWKSCache(url=f"{url}/jwks.json", http=http, min_refresh=0)
        verifier = TokenVerifier(jwks, one.audience, one.issuer)
        token = one.mint()
        await verifier.verify(token)
        jwks.retire(one.kid)  # auth.keys.v1 said so; this JWKS (a replica not yet reloaded) still serves it
        await jwks.refresh(force=True)
        assert one.kid not in jwks.keys
        with pytest.raises(Unauthorized):
            await verifier.verify(token)


async def test_static_keys_survive_a_refresh():
    static, fetched = TestKeys.generate(), TestKeys.generate()
    server = JWKSServer(fetched.jwks)
    async with serve_app(server.app) as url, httpx.AsyncClient() as http:
        jwks = JWKSCache(url=f"{url}/jwks.json", static_json=static.jwks_json, http=http)
        await jwks.refresh(force=True)
        assert set(jwks.keys) == {static.kid, fetched.kid}
