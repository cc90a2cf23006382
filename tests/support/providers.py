"""Stand-in Telegram Bot API, Twilio REST API and Meta Graph API servers for tests (run with
tests.support.plugin.serve_app)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Failure:
    status: int
    times: int
    retry_after: int | None = None
    code: int | None = None  # the provider's own error code (Meta's Graph `error.code`)


@dataclass
class Recorder:
    calls: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    hangs: list[float] = field(default_factory=list)

    def fail(self, status: int, times: int = 1, retry_after: int | None = None, code: int | None = None) -> None:
        """Answer the next `times` sending calls with `status` (and the provider's error `code`)."""
        self.failures.append(Failure(status, times, retry_after, code))

    def hang(self, seconds: float, times: int = 1) -> None:
        """Record the next `times` sending calls, then keep each answer back for `seconds`: a provider that took
        the message while the sender died waiting for its answer."""
        self.hangs.extend([seconds] * times)

    async def _maybe_hang(self) -> None:
        if self.hangs:
            await asyncio.sleep(self.hangs.pop(0))

    def _next_failure(self) -> Failure | None:
        while self.failures and self.failures[0].times <= 0:
            self.failures.pop(0)
        if not self.failures:
            return None
        self.failures[0].times -= 1
        return self.failures[0]

    def named(self, method: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["method"] == method]


async def _params(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "")
    if "json" in ctype:
        return await request.json()
    form = await request.form()
    return {k: v for k, v in form.items()}


class TelegramStandIn(Recorder):
    """Speaks the Bot API at /bot<token>/<method> and serves files at /file/bot<token>/<path>."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        super().__init__()
        self.files = files or {}
        self._ids = itertools.count(1000)
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["POST", "GET"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )

    async def _method(self, request: Request) -> Response:
        token, method = request.path_params["token"], request.path_params["method"]
        params = await _params(request)
        self.calls.append({"method": method, "token": token, "params": params, "at": time.time()})
        if method == "sendMessage":
            await self._maybe_hang()
        if method in ("sendMessage",) and (failure := self._next_failure()):
            body = {"ok": False, "error_code": failure.status, "description": f"stand-in failure {failure.status}"}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return JSONResponse(body, status_code=failure.status)
        if method in ("setWebhook", "sendChatAction", "deleteWebhook"):
            return JSONResponse({"ok": True, "result": True})
        if method == "sendMessage":
            return JSONResponse(
                {
                    "ok": True,
                    "result": {
                        "message_id": next(self._ids),
                        "date": int(time.time()),
                        "chat": {"id": int(params["chat_id"]), "type": "private"},
                        "text": params.get("text", ""),
                    },
                }
            )
        if method == "getFile":
            file_id = params["file_id"]
            if file_id not in self.files:
                return JSONResponse(
                    {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}, status_code=400
                )
            return JSONResponse(
                {
                    "ok": True,
                    "result": {
                        "file_id": file_id,
                        "file_unique_id": file_id[:8],
                        "file_size": len(self.files[file_id]),
                        "file_path": f"voice/{file_id}.oga",
                    },
                }
            )
        if method == "getMe":
            return JSONResponse({"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "Stand-in"}})
        return JSONResponse(
            {"ok": False, "error_code": 404, "description": "Not Found: method not found"}, status_code=404
        )

    async def _file(self, request: Request) -> Response:
        path = request.path_params["path"]
        file_id = path.rsplit("/", 1)[-1].removesuffix(".oga")
        self.calls.append({"method": "download", "token": request.path_params["token"], "params": {"path": path}})
        if file_id not in self.files:
            return Response(status_code=404)
        return Response(self.files[file_id], media_type="audio/ogg")


class TwilioStandIn(Recorder):
    """Speaks Twilio's REST API: Messages create and media downloads, both behind Basic auth."""

    def __init__(self, account_sid: str, auth_token: str, media: dict[str, tuple[bytes, str]] | None = None) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.media = media or {}
        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"]),
                Route("/media/{media_id}", self._media, methods=["GET"]),
            ]
        )

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.account_sid and password == self.auth_token

    async def _create(self, request: Request) -> Response:
        params = await _params(request)
        self.calls.append(
            {"method": "messages.create", "params": params, "auth_ok": self._authorised(request), "at": time.time()}
        )
        await self._maybe_hang()
        if not self._authorised(request) or request.path_params["sid"] != self.account_sid:
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        if failure := self._next_failure():
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return JSONResponse(
                {
                    "code": 20429 if failure.status == 429 else 20500,
                    "message": "stand-in failure",
                    "status": failure.status,
                },
                status_code=failure.status,
                headers=headers,
            )
        sid = "SM" + uuid.uuid4().hex
        return JSONResponse(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": params.get("To"),
                "from": params.get("From"),
                "body": params.get("Body"),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "date_created": "Sun, 22 Nov 2026 05:00:00 +0000",
                "uri": f"/2010-04-01/Accounts/x/Messages/{sid}.json",
            },
            status_code=201,
        )

    async def _media(self, request: Request) -> Response:
        self.calls.append(
            {"method": "media", "params": dict(request.path_params), "auth_ok": self._authorised(request)}
        )
        if not self._authorised(request):
            return Response(status_code=401)
        item = self.media.get(request.path_params["media_id"])
        if item is None:
            return Response(status_code=404)
        return Response(item[0], media_type=item[1])


class MetaGraphStandIn(Recorder):
    """Speaks the Graph API: `POST /{version}/{node}/messages` (WhatsApp's and the pages' answers), `GET
    /{version}/{media_id}` naming a download URL on this server (or `media_urls[media_id]`), and the download,
    every call behind `Authorization: Bearer <token>` from `tokens`. Refusals are Graph errors
    (`fail(status, code=...)`)."""

    def __init__(self, tokens: set[str], media: dict[str, tuple[bytes, str]] | None = None) -> None:
        super().__init__()
        self.tokens = tokens
        self.media = media or {}
        self.media_urls: dict[str, str] = {}
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/download/{media_id}", self._download, methods=["GET"]),
                Route("/{version}/{node}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{media_id}", self._media, methods=["GET"]),
            ]
        )

    def _token(self, request: Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")

    @staticmethod
    def _error(status: int, code: int, message: str) -> JSONResponse:
        return JSONResponse(
            {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "stand-in"}},
            status_code=status,
        )

    async def _messages(self, request: Request) -> Response:
        body = await request.json()
        token = self._token(request)
        call = {"method": "messages", "version": request.path_params["version"], "node": request.path_params["node"]}
        self.calls.append(call | {"token": token, "body": body, "at": time.time()})
        if token not in self.tokens:
            return self._error(401, 190, "Error validating access token: the session is invalid")
        if "sender_action" in body:
            return JSONResponse({"recipient_id": body["recipient"]["id"]})
        if failure := self._next_failure():
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            response = self._error(failure.status, failure.code or 1, f"stand-in failure {failure.code}")
            response.headers.update(headers)
            return response
        n = next(self._ids)
        if body.get("messaging_product") == "whatsapp":
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                    "messages": [{"id": f"wamid.OUT{n}"}],
                }
            )
        return JSONResponse({"recipient_id": body["recipient"]["id"], "message_id": f"m_OUT{n}"})

    async def _media(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        self.calls.append({"method": "media", "media_id": media_id, "token": self._token(request)})
        if self._token(request) not in self.tokens:
            return self._error(401, 190, "Error validating access token")
        if media_id not in self.media and media_id not in self.media_urls:
            return self._error(400, 100, "Unsupported get request")
        content, ctype = self.media.get(media_id, (b"", "application/octet-stream"))
        url = self.media_urls.get(media_id) or str(request.base_url).rstrip("/") + f"/download/{media_id}"
        return JSONResponse(
            {"messaging_product": "whatsapp", "url": url, "mime_type": ctype, "file_size": len(content), "id": media_id}
        )

    async def _download(self, request: Request) -> Response:
        media_id = request.path_params["media_id"]
        self.calls.append({"method": "download", "media_id": media_id, "token": self._token(request)})
        if self._token(request) not in self.tokens:
            return Response(status_code=401)
        if media_id not in self.media:
            return Response(status_code=404)
        return Response(self.media[media_id][0], media_type=self.media[media_id][1])
