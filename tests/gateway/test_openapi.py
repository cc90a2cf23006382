"""The merged OpenAPI document: built from the five real service apps, valid, complete, without /internal."""

from __future__ import annotations

import contextlib
import importlib

from openapi_spec_validator import validate

from gateway.routes import RoutingTable
from tests.gateway.conftest import gateway_settings, serve_gateway
from tests.support.plugin import serve_app

SETTINGS = {
    "auth": "AuthSettings",
    "chat": "ChatSettings",
    "channels": "ChannelsSettings",
    "transcription": "TranscriptionSettings",
    "search": "SearchSettings",
}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


async def test_merged_openapi_is_valid_and_has_every_public_path(stack, redis):
    async with contextlib.AsyncExitStack() as es:
        urls, own_docs = {}, {}
        for name, cls_name in SETTINGS.items():
            settings_cls = getattr(importlib.import_module(f"services.{name}.config"), cls_name)
            app = importlib.import_module(f"services.{name}.app").create_app(stack.settings(settings_cls))
            own_docs[name] = app.openapi()
            urls[name] = await es.enter_async_context(serve_app(app, lifespan="off"))
        gw = await es.enter_async_context(serve_gateway(stack, urls))
        r = await gw.get("/openapi.json")
        assert r.status_code == 200
        doc = r.json()
        validate(doc)  # raises on an invalid document

        table = RoutingTable(gateway_settings(stack, urls))
        for name, own in own_docs.items():
            public = [p for p in own["paths"] if table.paths_of(name, p)]
            assert public, f"{name} exposes no public path"
            for path in public:
                assert path in doc["paths"], f"{name}: {path} missing from the merged document"
                assert set(doc["paths"][path]) & METHODS == set(own["paths"][path]) & METHODS
        assert not [p for p in doc["paths"] if p.startswith("/internal")]
        for path in ("/api/v1/auth/login", "/api/v1/threads", "/api/v1/channels", "/api/v1/transcriptions"):
            assert path in doc["paths"]
        assert {"/api/v1/search", "/api/v1/documents", "/health", "/ready"} <= set(doc["paths"])
        assert "x-upstreams-unavailable" not in doc

        # security: what the gateway enforces, and the Authorize button's password flow
        schemes = doc["components"]["securitySchemes"]
        assert schemes["OAuth2Password"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
        assert schemes["ApiKey"] == {**schemes["ApiKey"], "in": "header", "name": "X-API-Key"}
        assert doc["paths"]["/api/v1/auth/login"]["post"]["security"] == []
        assert {"BearerJWT": []} in doc["paths"]["/api/v1/threads"]["get"]["security"]
        ids = [op["operationId"] for item in doc["paths"].values() for m, op in item.items() if m in METHODS]
        assert len(ids) == len(set(ids))

        docs = await gw.get("/docs")
        assert docs.status_code == 200 and "/openapi.json" in docs.text


async def test_openapi_survives_an_upstream_that_is_down(stack, redis, upstreams):
    urls = {n: u for n, (_, u) in upstreams.items()}
    async with serve_gateway(stack, urls) as gw:
        r = await gw.get("/openapi.json")
        assert r.status_code == 200
        doc = r.json()
        # the echo upstreams have no OpenAPI document: listed as unavailable, the gateway's own paths remain
        assert sorted(doc["x-upstreams-unavailable"]) == sorted(urls)
        assert "/health" in doc["paths"]
        validate(doc)
