"""The admin console in a real browser: headless Chromium (Debian's package, driven by playwright-core from
admin/node_modules) against the whole stack of `python -m devtools dev` (embedded Postgres + Redis, every
service and worker, the gateway serving a fresh production build at /admin), the stand-in OpenAI-protocol LLM
and the stand-in Telegram Bot API. admin/e2e/run.mjs does the clicking; this test starts everything, runs it and
asserts its results and what the stand-ins received. Screenshots: test-artifacts/admin-e2e/.

`make test` installs what this needs (npm ci in admin/, Debian's chromium) and sets ATENDE_REQUIRE_BROWSER=1, so
there a missing browser fails; a plain `pytest` without Node or Chromium skips with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from tests.support.llm import LLMStandIn
from tests.support.plugin import serve_app
from tests.support.processes import clean_env, distinct_free_ports
from tests.support.providers import TelegramStandIn
from tests.support.smtp import body, smtp_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ADMIN = ROOT / "admin"
ARTIFACTS = ROOT / "test-artifacts" / "admin-e2e"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
EMAIL = "owner@admin-e2e.example.com"
PASSWORD = "e2e-Admin-password-9"
DOC_PHRASE = "Zorblax warranty purple teleporters"
SCREEN_CHECKS = {  # admin/e2e/screens.mjs
    "my conversations: rename, delete, restore",
    "inbox sector chips with per-sector counts",
    "contacts: a customer's history across threads and channels",
    "superuser switches to any company (not a member) and back",
    "pt-BR console: key screens in Portuguese",
    "sign up, confirm the address from the mail, change password; superuser deactivates",
}
CHANNEL_CHECKS = {
    "Telegram channel with webhook URL, webhook set",
    "Telegram message appears live; AI off; agent reply reaches Telegram",
    "live buffer with countdown, force flush answers",
}
WIDGET_CHECKS = {
    "web channel: embed snippet, allowed origins, colour, greeting, live preview",
    "widget on a foreign origin: the API answers 403 and nothing is shown",
    "widget on an allowed origin: isolated from the page's CSS, typing indicator, a visitor's message answered",
    "agent takes over in the console: the reply reaches the open widget live, unread badge, inert HTML",
    "the connection is cut (offline) and resumes without losing a message",
    "the visitor sends an image: shown in the widget, stored with the message in the console",
    "return visit resumes the conversation; phone width full-screen; pt-BR from the page; name and email",
}
BURST = ("Quero pedir uma pizza", "grande, de calabresa")  # the two Telegram messages run.mjs sends in one burst
APPS = ("gateway", "auth", "chat", "channels", "transcription", "search")


def _runs(groups: str, group: str) -> bool:
    return groups in ("", "all") or group in groups.split(",")


def _missing() -> list[str]:
    missing = []
    if shutil.which("node") is None:
        missing.append("node (Node.js 20+)")
    if not (ADMIN / "node_modules" / "playwright-core").is_dir():
        missing.append("admin/node_modules (npm ci in admin/)")
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if shutil.which("espeak-ng") is None:
        missing.append("espeak-ng")
    return missing


@pytest.fixture(scope="module")
def prerequisites() -> None:
    missing = _missing()
    if missing:
        message = f"admin browser e2e needs {', '.join(missing)}: `make admin-test-deps` installs them"
        if os.environ.get("ATENDE_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _build(out_dir: Path) -> None:
    """A production build of the current source, served by the gateway (GATEWAY_ADMIN_DIR)."""
    proc = subprocess.run(
        [
            *("npx", "--no-install", "vite", "build", "--outDir", str(out_dir), "--emptyOutDir", "--logLevel", "warn"),
            *os.environ.get("ADMIN_BUILD_ARGS", "").split(),  # e.g. "--minify false" to read a browser stack trace
        ],
        cwd=ADMIN,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out_dir / "index.html").is_file()


def _inputs(tmp: Path) -> tuple[Path, Path]:
    wav = tmp / "order.wav"
    text = "Hello, I would like to order a large pizza with mushrooms for delivery tonight."
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True, timeout=60)
    doc = tmp / "warranty.txt"
    doc.write_text(
        "Zorblax warranty policy.\n\nThe Zorblax warranty covers purple teleporters for seven years, "
        "including parts and labour. Claims are made at any Zorblax store with the original receipt.\n"
    )
    return wav, doc


def _telegram_app(tg: TelegramStandIn) -> Starlette:
    """The stand-in Bot API plus /_calls, so the browser script can read what Telegram received."""

    async def calls(_: Request) -> JSONResponse:
        return JSONResponse(tg.calls)

    return Starlette(routes=[Route("/_calls", calls), Mount("/", app=tg.app)])


@contextlib.asynccontextmanager
async def _mail() -> AsyncIterator[tuple[str, str]]:
    """A real SMTP server for auth's mail (sign-up verification) and, for the browser script, what it received:
    GET <mail_url>/_mail?to=<address> -> [{subject, body}]. Yields (smtp_url, mail_url)."""

    async def mail(request: Request) -> JSONResponse:
        found = inbox.to(request.query_params.get("to", ""))
        return JSONResponse([{"subject": str(m["Subject"]), "body": body(m)} for m in found])

    with smtp_server() as (inbox, smtp_url):
        async with serve_app(Starlette(routes=[Route("/_mail", mail)])) as mail_url:
            yield smtp_url, mail_url


def _env(tmp: Path, ports: dict[str, int], pg_port: int, redis_port: int, llm: str, telegram: str, dist: Path):
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    return clean_env() | {
        "DEV_DATA_DIR": str(tmp / "data"),
        "DEV_PG_PORT": str(pg_port),
        "DEV_REDIS_PORT": str(redis_port),
        "PG_FAST": "1",
        "DEMO_ADMIN_EMAIL": EMAIL,
        "DEMO_ADMIN_PASSWORD": PASSWORD,
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
        "GATEWAY_ADMIN_DIR": str(dist),
        # A browser session makes many calls per second (live polling): the per-IP/user defaults are for the API.
        "GATEWAY_RATE_LIMITS_ENABLED": "false",
        "CHAT_LLM_BASE_URL": f"{llm}/v1",
        "CHAT_LLM_API_KEY": "sk-stand-in",
        "CHAT_LLM_MODEL": "stand-in",
        "CHANNELS_TELEGRAM_API_URL": telegram,
        "CHANNELS_PUBLIC_BASE_URL": gateway,
        "CHANNELS_MEDIA_DIR": str(tmp / "media"),
        "TRANSCRIPTION_MODEL_CACHE_DIR": str(ROOT / ".data" / "models"),
    }


async def _seed_dashboards(gateway: str, pg_port: int) -> dict[str, str]:
    """Three tenants for admin/e2e/dashboard.mjs: one with a single day of conversations, one (pt-BR) with thirty
    days of them, one with none. Messages go through the API (user question, AI answer, some human answers); SQL
    then moves each conversation of the thirty-day tenant to its day, its first answer later the older the day."""
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as api:
        login = await api.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        tenants: dict[str, str] = {}
        threads: list[tuple[int, str]] = []
        seeds = (
            ("one", "One Day Co", "en-US", 1),
            ("thirty", "Thirty Days Ltda", "pt-BR", 30),
            ("empty", "No Data Co", "en-US", 0),
        )
        for key, name, locale, days in seeds:
            made = await api.post(
                "/api/v1/tenants", json={"name": f"{name} {time.time_ns()}", "locale": locale}, headers=admin
            )
            assert made.status_code == 201, made.text
            tenants[key] = made.json()["id"]
            switched = await api.post("/api/v1/auth/switch-tenant", json={"tenant_id": tenants[key]}, headers=admin)
            assert switched.status_code == 200, switched.text
            headers = {"Authorization": f"Bearer {switched.json()['access_token']}"}
            for day in range(days):
                thread = await api.post("/api/v1/threads", json={"message": f"Question of day {day}"}, headers=headers)
                assert thread.status_code == 201, thread.text
                if day % 3 == 0:
                    agent = {"content": "A human answer", "role": "agent"}
                    reply = await api.post(
                        f"/api/v1/threads/{thread.json()['id']}/messages", json=agent, headers=headers
                    )
                    assert reply.status_code == 201, reply.text
                if key == "thirty":
                    threads.append((day, thread.json()["id"]))
    db = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg_port}/atende")
    try:
        for day, thread_id in threads:  # day 0 stays today; answers come 2 s + 1 s per day after the question
            await db.execute(
                "UPDATE chat.message SET created_at = date_trunc('day', now(), 'UTC') - make_interval(days => $2) "
                "+ interval '9 hours' + make_interval(secs => CASE role WHEN 'user' THEN 0 "
                "WHEN 'assistant' THEN 2 + $2 ELSE 60 END) WHERE thread_id = $1::uuid",
                thread_id,
                day,
            )
    finally:
        await db.close()
    return tenants


async def _wait_running(proc: asyncio.subprocess.Process, log: Path, timeout: float = 150.0) -> None:
    deadline = time.monotonic() + timeout
    while "Atende is running." not in log.read_text(errors="replace"):
        if proc.returncode is not None:
            pytest.fail(f"dev exited with {proc.returncode}:\n{log.read_text(errors='replace')[-5000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"dev not running after {timeout}s:\n{log.read_text(errors='replace')[-5000:]}")
        await asyncio.sleep(0.3)


async def _wait_workers(log: Path, names: tuple[str, ...], timeout: float = 600.0) -> None:
    """Until the workers the browser checks rely on consume their streams: "Atende is running" waits for the apps
    only, and on a busy machine a worker's imports can take minutes."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log.read_text(errors="replace").splitlines()
        missing = [n for n in names if not any(ln.startswith(n) and '"worker_started"' in ln for ln in lines)]
        if not missing:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{', '.join(missing)} not started after {timeout}s:\n{chr(10).join(lines[-40:])}")
        await asyncio.sleep(0.5)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


async def test_admin_console_in_chromium(prerequisites, tmp_path: Path) -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    dist = tmp_path / "dist"
    await asyncio.to_thread(_build, dist)
    wav, doc = await asyncio.to_thread(_inputs, tmp_path)

    llm = LLMStandIn(chunk_delay=0.08)
    tg = TelegramStandIn()
    *app_ports, pg_port, redis_port = distinct_free_ports(len(APPS) + 2)
    ports = dict(zip(APPS, app_ports, strict=True))
    gateway = f"http://127.0.0.1:{ports['gateway']}"

    async with serve_app(llm.app) as llm_url, serve_app(_telegram_app(tg)) as tg_url, _mail() as (smtp_url, mail_url):
        log = tmp_path / "dev.log"
        with open(log, "wb") as out:
            dev = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "devtools",
                "dev",
                cwd=tmp_path,
                env=_env(tmp_path, ports, pg_port, redis_port, llm_url, tg_url, dist)
                | {"AUTH_SMTP_URL": smtp_url, "AUTH_PUBLIC_BASE_URL": gateway},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            await _wait_running(dev, log)
            async with httpx.AsyncClient(timeout=10) as client:
                page = await client.get(f"{gateway}/admin/inbox/deep/link")
                assert page.status_code == 200 and '<div id="root">' in page.text

            groups = os.environ.get("ADMIN_E2E_GROUPS", "all")  # core, channels and every admin/e2e/<group>.mjs
            # chat's worker stores webhook messages and feeds the live stream; channels' worker sends replies.
            needed = ("chat-worker", "channels-worker") if _runs(groups, "channels") else ("chat-worker",)
            await _wait_workers(log, needed)
            dashboards = await _seed_dashboards(gateway, pg_port) if _runs(groups, "dashboard") else {}
            script = await asyncio.create_subprocess_exec(
                "node",
                "e2e/run.mjs",
                cwd=ADMIN,
                env=os.environ
                | {
                    "ADMIN_BASE_URL": gateway,
                    "ADMIN_EMAIL": EMAIL,
                    "ADMIN_PASSWORD": PASSWORD,
                    "ARTIFACTS_DIR": str(ARTIFACTS),
                    "AUDIO_FILE": str(wav),
                    "DOC_FILE": str(doc),
                    "DOC_PHRASE": DOC_PHRASE,
                    "TELEGRAM_STANDIN": tg_url,
                    "MAIL_STANDIN": mail_url,
                    "CHROMIUM": CHROMIUM,
                    "E2E_GROUPS": groups,
                    "E2E_DASHBOARD_TENANTS": json.dumps(dashboards),
                },
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            try:
                output, _ = await asyncio.wait_for(script.communicate(), 600)
            except TimeoutError:
                script.kill()
                await script.wait()
                pytest.fail("the browser script did not finish in 600 s")
        finally:
            await _stop(dev)
            shutil.copy(log, ARTIFACTS / "dev.log")

    text = output.decode(errors="replace")
    (ARTIFACTS / "run.log").write_text(text)
    report = json.loads((ARTIFACTS / "results.json").read_text())
    results = report["results"]
    failed = [r for r in results if not r["ok"]]
    assert not failed, "browser checks failed:\n" + "\n\n".join(f"{r['name']}: {r.get('error')}" for r in failed)
    names = {r["name"] for r in results}
    assert "login" in names, names

    # What the stand-ins saw agrees with what the browser showed.
    bodies = [r["body"] for r in llm.requests]  # what the chat service sent to the LLM stand-in
    if _runs(groups, "core"):
        assert {"assistant and streamed try-it answer", "API key shown once"} <= names, names
        streamed = [b for b in bodies if b.get("stream")]
        assert any("What time do you open on Saturdays?" in json.dumps(r["messages"]) for r in streamed)
        assert any("polite concierge" in json.dumps(r["messages"]) for r in streamed), "saved instructions reach LLM"
        for shot in ("login", "dashboard", "assistant-try-it", "api-key-created", "transcriptions", "knowledge-search"):
            assert (ARTIFACTS / f"{shot}.png").stat().st_size > 5000, shot
    if _runs(groups, "screens"):
        assert names >= SCREEN_CHECKS, names
        for shot in ("contact-history", "company-switched-inbox", "email-confirmed", "pt-BR-account"):
            assert (ARTIFACTS / f"{shot}.png").stat().st_size > 5000, shot
    for group, prefix, shots in (  # each group's checks by their names' prefix (channels has "live buffer ...")
        ("dashboard", "dashboard ", ("dashboard-one-day", "dashboard-thirty-days", "dashboard-empty")),
        ("live", "live: ", ("live-inbox-new-conversation", "live-thread", "live-reconnected")),
    ):
        if _runs(groups, group):
            assert len([n for n in names if n.startswith(prefix)]) == 3, names
            for shot in shots:
                assert (ARTIFACTS / f"{shot}.png").stat().st_size > 5000, shot
    if _runs(groups, "channels"):
        assert names >= CHANNEL_CHECKS, names
        sent = tg.named("sendMessage")

        def texts_to(chat: int) -> list[str]:
            return [c["params"]["text"] for c in sent if str(c["params"]["chat_id"]) == str(chat)]

        assert any("entregamos sim" in text for text in texts_to(report["chats"]["takeover"])), "agent reply sent"
        # The two buffered messages got one AI answer, made from one LLM call that saw both.
        burst = texts_to(report["chats"]["buffer"])
        assert len([text for text in burst if "Stand-in answer" in text]) == 1, burst
        both = [b for b in bodies if all(m in json.dumps(b["messages"], ensure_ascii=False) for m in BURST)]
        assert both, "one LLM request saw the whole burst"
    if _runs(groups, "widget"):
        assert names >= WIDGET_CHECKS, names
        # The visitor's message went through the pipeline to the LLM stand-in (admin/e2e/widget.mjs).
        assert any("Do you deliver on Sundays?" in json.dumps(b["messages"]) for b in bodies), "widget text to the LLM"
        for shot in ("web-channel-preview", "widget-desktop", "widget-mobile"):
            assert (ARTIFACTS / f"{shot}.png").stat().st_size > 5000, shot
