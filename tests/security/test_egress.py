"""Transcription webhooks cannot be steered inside, through the gateway on the real stack: internal URLs are refused
at creation (422) and again at delivery (DNS may change, or rebind between a check and a connect); with private
networks allowed, a local receiver gets the callback signed with its own tenant's secret only; a receiver's endless
answer is cut at the cap."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from services.transcription.jobs.webhooks import SIGNATURE_HEADER, verify
from tests.support.platform import platform, wav_bytes
from tests.support.plugin import serve_app, wait_for

PUBLIC_IP = "93.184.216.34"
# Worker settings: jobs end fast (no local model, no OpenAI key: the job fails and its webhook fires), a tenant's
# secret is read fresh, failed webhooks are retried quickly.
FAST = {
    "default_engine": "openai",
    "openai_api_key": "",
    "tenant_cache_seconds": 0,
    "webhook_timeout_seconds": 3,
    "sweep_interval_seconds": 0.3,
    "webhook_max_attempts": 3,
}


class Receiver:
    """A webhook receiver on loopback: what an attacker wants the platform to call."""

    def __init__(self, endless: bool = False) -> None:
        self.calls: list[dict] = []
        self.endless = endless

        async def hook(request: Request) -> Response:
            self.calls.append({"headers": dict(request.headers), "body": await request.body()})
            if self.endless:
                return StreamingResponse(self._forever(), status_code=500)
            return Response(status_code=204)

        self.app = Starlette(routes=[Route("/{path:path}", hook, methods=["POST", "GET"])])

    @staticmethod
    async def _forever():
        chunk = b"x" * 65536
        while True:
            yield chunk
            await asyncio.sleep(0)


async def _secret(p, t, value: str) -> None:
    r = await p.gw.put(
        f"/api/v1/tenants/{t.tenant_id}/secrets/webhook_secret", headers=t.headers, json={"value": value}
    )
    assert r.status_code == 204, r.text


async def _job(p, t, webhook_url: str):
    return await p.gw.post(
        "/api/v1/transcriptions",
        headers=t.headers,
        files={"file": ("a.wav", wav_bytes(0.5), "audio/wav")},
        data={"webhook_url": webhook_url},
    )


async def _webhook_state(p, job_id: str):
    rows = await p.sql(
        "SELECT webhook_attempts, webhook_delivered_at, webhook_error FROM transcription.job WHERE id = :i", i=job_id
    )
    return rows[0]


async def test_internal_webhook_urls_are_refused_at_creation(stack, committed_db, redis, tmp_path):
    rec = Receiver()
    async with serve_app(rec.app) as local, platform(stack, tmp_path, settings={"transcription": FAST}) as p:
        port = local.rsplit(":", 1)[1]
        t = await p.tenant("Egress")
        await _secret(p, t, "whsec-egress-tenant-1")
        internal = [
            f"http://127.0.0.1:{port}/hook",
            f"http://localhost:{port}/hook",
            "http://169.254.169.254/latest/meta-data/",
            f"http://[::1]:{port}/hook",
            f"http://[::ffff:127.0.0.1]:{port}/hook",
            f"http://[::ffff:7f00:1]:{port}/hook",
            f"http://[64:ff9b::7f00:1]:{port}/hook",
            f"http://[2002:7f00:1::]:{port}/hook",
            "http://10.1.2.3/hook",
            "http://100.64.0.1/hook",
            "http://0.0.0.0/hook",
            "http://[fd00::1]/hook",
            "http://[fe80::1]/hook",
            "http://224.0.0.1/hook",
        ]
        for url in internal:
            r = await _job(p, t, url)
            assert r.status_code == 422, (url, r.status_code, r.text)
            assert r.json()["code"] == "webhook_url_refused" and r.json()["errors"][0]["loc"] == ["body", "webhook_url"]
        assert (await p.sql("SELECT count(*) FROM transcription.job"))[0][0] == 0
    assert rec.calls == []


async def test_rebinding_and_changed_dns_are_refused_at_delivery(stack, committed_db, redis, tmp_path):
    """The API's check sees a public address; by the time the worker delivers, the name answers 127.0.0.1: each
    delivery resolves again, checks that answer and refuses it, so the local receiver never gets a byte. (No
    delivery here ever connects to the public address: tests send traffic to loopback only.)"""
    rec = Receiver()
    worker_answers: list[str] = []

    async def public(host: str, port: int) -> list[str]:
        return [PUBLIC_IP]

    async def rebound(host: str, port: int) -> list[str]:
        worker_answers.append("127.0.0.1")
        return ["127.0.0.1"]

    async with (
        serve_app(rec.app) as local,
        platform(
            stack, tmp_path, settings={"transcription": FAST}, app_kwargs={"transcription": {"resolver": public}}
        ) as p,
    ):
        port = local.rsplit(":", 1)[1]
        t = await p.tenant("Rebind")
        await _secret(p, t, "whsec-rebind-tenant-1")
        r = await _job(p, t, f"http://hooks.rebind.test:{port}/hook")
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        p.start_worker("transcription", run_kwargs={"resolver": rebound})

        async def given_up():
            attempts, delivered, error = await _webhook_state(p, job_id)
            return (attempts, delivered, error) if attempts >= FAST["webhook_max_attempts"] else None

        attempts, delivered, error = await wait_for(given_up, timeout=60)
        assert delivered is None and "refused" in (error or ""), error
        # one resolution per delivery attempt, each checked before any connection
        assert len(worker_answers) == attempts, (worker_answers, attempts)
    assert rec.calls == []


async def test_callbacks_are_signed_with_each_tenants_own_secret(stack, committed_db, redis, tmp_path):
    rec = Receiver()
    allowed = FAST | {"allow_private_urls": True}
    async with serve_app(rec.app) as local, platform(stack, tmp_path, settings={"transcription": allowed}) as p:
        a, b, c = await p.tenant("SignA"), await p.tenant("SignB"), await p.tenant("NoSecret")
        await _secret(p, a, "whsec-tenant-a-5f2c9e")
        await _secret(p, b, "whsec-tenant-b-8d1a3b")
        r = await _job(p, c, f"{local}/c")
        assert r.status_code == 422 and r.json()["code"] == "webhook_secret_missing", r.text
        job_a = (await _job(p, a, f"{local}/a")).json()["id"]
        job_b = (await _job(p, b, f"{local}/b")).json()["id"]
        p.start_worker("transcription")
        await wait_for(lambda: len(rec.calls) >= 2, timeout=30)

        by_job = {}
        for call in rec.calls:
            body = call["body"]
            by_job[call["headers"]["x-atende-delivery"]] = (body, call["headers"][SIGNATURE_HEADER.lower()])
        body_a, sig_a = by_job[job_a]
        body_b, sig_b = by_job[job_b]
        assert verify("whsec-tenant-a-5f2c9e", body_a, sig_a) and not verify("whsec-tenant-b-8d1a3b", body_a, sig_a)
        assert verify("whsec-tenant-b-8d1a3b", body_b, sig_b) and not verify("whsec-tenant-a-5f2c9e", body_b, sig_b)

        # rotation: a new secret signs the next callback
        await _secret(p, a, "whsec-tenant-a-rotated-71")
        job_a2 = (await _job(p, a, f"{local}/a2")).json()["id"]
        await wait_for(lambda: any(c["headers"]["x-atende-delivery"] == job_a2 for c in rec.calls), timeout=30)
        call = next(c for c in rec.calls if c["headers"]["x-atende-delivery"] == job_a2)
        assert verify("whsec-tenant-a-rotated-71", call["body"], call["headers"][SIGNATURE_HEADER.lower()])


async def test_a_receivers_endless_answer_is_cut(stack, committed_db, redis, tmp_path):
    rec = Receiver(endless=True)
    allowed = FAST | {"allow_private_urls": True, "webhook_max_response_bytes": 4096, "webhook_max_attempts": 1}
    async with serve_app(rec.app) as local, platform(stack, tmp_path, settings={"transcription": allowed}) as p:
        t = await p.tenant("Endless")
        await _secret(p, t, "whsec-endless-tenant-1")
        job_id = (await _job(p, t, f"{local}/hook")).json()["id"]
        p.start_worker("transcription")

        async def recorded():
            attempts, _, error = await _webhook_state(p, job_id)
            return error if attempts else None

        error = await wait_for(recorded, timeout=20)
        assert "receiver answered 500" in error and "cut at 4096 bytes" in error, error
