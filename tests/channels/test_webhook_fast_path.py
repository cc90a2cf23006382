"""The message webhooks' front path (webhooks/asgi.py, shared/app.py `front_path`): served ahead of FastAPI's whole
middleware stack, yet with the same request id, metrics, access line and error answers as every other request."""

import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.middleware.errors import ServerErrorMiddleware

from services.channels.app import create_app
from services.channels.config import ChannelsSettings
from tests.channels.conftest import PUBLIC, create_channel
from tests.channels.test_webhooks import _post_twilio, _tg_update, _twilio_form
from tests.support.plugin import app_client

TWILIO_ROUTE = "/webhooks/twilio/{channel_id}"
TELEGRAM_ROUTE = "/webhooks/telegram/{channel_id}"


@pytest.fixture
async def app(stack, committed_db):
    return create_app(stack.settings(ChannelsSettings, public_base_url=PUBLIC))


@pytest.fixture
async def client(app):
    async with app_client(app) as c:
        yield c


@pytest.fixture
def session(committed_session):
    return committed_session


async def _telegram_secret(session, channel_id: str) -> str:
    import orjson
    from sqlalchemy import select

    from services.channels.configs.models import Channel
    from shared.crypto import SecretBox

    sealed = (await session.execute(select(Channel.credentials_encrypted).where(Channel.id == channel_id))).scalar_one()
    return orjson.loads(SecretBox("test-secrets-key").decrypt(sealed))["webhook_secret"]


async def _requests_total(client, method: str, route: str, status: int) -> float:
    """http_requests_total{method, route, status} as GET /metrics reports it (0 when the series does not exist)."""
    r = await client.get("/metrics")
    assert r.status_code == 200
    for family in text_string_to_metric_families(r.text):
        if family.name != "http_requests":
            continue
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels == {
                "method": method,
                "route": route,
                "status": str(status),
            }:
                return sample.value
    return 0.0


async def test_webhook_request_id_echoed_or_generated(client, admin_headers):
    ch = await create_channel(client, admin_headers)
    r = await client.post(
        f"/webhooks/twilio/{ch['id']}",
        data=_twilio_form(),
        headers={"X-Request-ID": "wh-abc.123", "X-Twilio-Signature": "x"},
    )
    assert r.status_code == 403, r.text
    assert r.headers.get_list("x-request-id") == ["wh-abc.123"]
    r = await _post_twilio(client, ch["id"], _twilio_form())
    assert r.status_code == 200, r.text
    (generated,) = r.headers.get_list("x-request-id")
    assert len(generated) == 32 and set(generated) <= set("0123456789abcdef")
    r = await client.post(
        f"/webhooks/telegram/{uuid.uuid4()}", json=_tg_update(), headers={"X-Request-ID": "bad id; with spaces"}
    )
    assert r.status_code in (403, 404), r.text
    (replaced,) = r.headers.get_list("x-request-id")
    assert replaced != "bad id; with spaces" and len(replaced) == 32


async def test_webhook_metrics_carry_the_route_template_and_status(client, admin_headers, session):
    twilio = await create_channel(client, admin_headers)
    telegram = await create_channel(client, admin_headers, kind="telegram")
    before = {
        key: await _requests_total(client, "POST", *key)
        for key in ((TWILIO_ROUTE, 200), (TWILIO_ROUTE, 403), (TELEGRAM_ROUTE, 200), (TELEGRAM_ROUTE, 403))
    }
    for i in range(2):
        assert (await _post_twilio(client, twilio["id"], _twilio_form(sid=f"SMm{i}"))).status_code == 200
    assert (await _post_twilio(client, twilio["id"], _twilio_form(), signature="AAAA")).status_code == 403
    headers = {"X-Telegram-Bot-Api-Secret-Token": await _telegram_secret(session, telegram["id"])}
    r = await client.post(f"/webhooks/telegram/{telegram['id']}", json=_tg_update(5), headers=headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"/webhooks/telegram/{telegram['id']}", json=_tg_update(6))
    assert r.status_code == 403, r.text
    assert await _requests_total(client, "POST", TWILIO_ROUTE, 200) == before[TWILIO_ROUTE, 200] + 2
    assert await _requests_total(client, "POST", TWILIO_ROUTE, 403) == before[TWILIO_ROUTE, 403] + 1
    assert await _requests_total(client, "POST", TELEGRAM_ROUTE, 200) == before[TELEGRAM_ROUTE, 200] + 1
    assert await _requests_total(client, "POST", TELEGRAM_ROUTE, 403) == before[TELEGRAM_ROUTE, 403] + 1
    # the raw path is never a label
    r = await client.get("/metrics")
    assert twilio["id"] not in r.text and telegram["id"] not in r.text


class _BrokenIntake:
    """Stands in for the intake (a collaborator): any call fails the way a bug would."""

    def __init__(self, real) -> None:
        self.wake = real.wake  # the lifespan closes it at shutdown

    async def receive(self, *args, **kwargs):
        raise RuntimeError("secret internals at /srv/intake.py line 3")


async def test_unexpected_exception_is_a_problem_500_with_the_request_id(app, client):
    real = app.state.webhook_intake
    app.state.webhook_intake = _BrokenIntake(real)
    try:
        before = await _requests_total(client, "POST", TWILIO_ROUTE, 500)
        for path in (f"/webhooks/twilio/{uuid.uuid4()}", f"/webhooks/telegram/{uuid.uuid4()}"):
            r = await client.post(path, data={"a": "b"}, headers={"X-Request-ID": "boom-1"})
            assert r.status_code == 500, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["status"] == 500 and "secret internals" not in r.text and "Traceback" not in r.text
            assert r.headers.get_list("x-request-id") == ["boom-1"]
    finally:
        app.state.webhook_intake = real
    assert await _requests_total(client, "POST", TWILIO_ROUTE, 500) == before + 1


async def test_other_requests_get_one_request_context(client, admin_headers):
    """Everything the front path does not claim goes through FastAPI's stack, with its request context once."""
    before = await _requests_total(client, "GET", "/health", 200)
    r = await client.get("/health", headers={"X-Request-ID": "health-1"})
    assert r.status_code == 200 and r.headers.get_list("x-request-id") == ["health-1"]
    assert await _requests_total(client, "GET", "/health", 200) == before + 1

    before = await _requests_total(client, "GET", "/api/v1/channels", 200)
    r = await client.get("/api/v1/channels", headers=admin_headers)
    assert r.status_code == 200, r.text
    assert len(r.headers.get_list("x-request-id")) == 1
    assert await _requests_total(client, "GET", "/api/v1/channels", 200) == before + 1

    # under /webhooks/ but not a message webhook: FastAPI answers (a GET is not allowed), once
    r = await client.get(f"/webhooks/twilio/{uuid.uuid4()}")
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/problem+json")
    assert len(r.headers.get_list("x-request-id")) == 1


async def test_webhooks_skip_the_outer_middleware(stack, committed_db, monkeypatch):
    """ServerErrorMiddleware (and what FastAPI puts inside it, ahead of the user middleware) never sees a webhook;
    it still wraps every other request."""
    seen: list[str] = []
    original = ServerErrorMiddleware.__call__

    async def marked(self, scope, receive, send):
        if scope["type"] == "http":
            seen.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(ServerErrorMiddleware, "__call__", marked)
    app = create_app(stack.settings(ChannelsSettings, public_base_url=PUBLIC))
    async with app_client(app) as client:
        cid = str(uuid.uuid4())
        assert (await _post_twilio(client, cid, _twilio_form())).status_code == 404
        r = await client.post(f"/webhooks/telegram/{cid}", json=_tg_update())
        assert r.status_code in (403, 404)
        assert seen == []
        assert (await client.get("/health")).status_code == 200
        assert seen == ["/health"]
    # the built stack: the front path sits in its own request context, nothing else around it
    front = app.middleware_stack.front
    assert type(front).__name__ == "RequestContextMiddleware" and type(front.app).__name__ == "ChannelsFrontPath"
    assert isinstance(app.middleware_stack.app, ServerErrorMiddleware)
