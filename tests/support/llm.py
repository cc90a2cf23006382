"""A local OpenAI-protocol server for tests and benchmarks: the real `openai` client runs against it.

Answers are deterministic (derived from the request), every request is recorded (image inputs included: `images`),
and it can be told to fail with a status (429/500/...) or to hang. Tool calls are scripted: `script_tools(round,
...)` makes the next requests that offer `tools` answer with those calls (streaming and not), then it answers with
text again. Serve `LLMStandIn().app` with tests.support.plugin.serve_app or uvicorn.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def text_of(content: Any) -> str:
    """A message's text: the string, or the text parts of a content array (images left out)."""
    if isinstance(content, list):
        return " ".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content or "")


@dataclass(frozen=True)
class ReceivedImage:
    """An image input as the model received it (`{"type": "image_url", "image_url": {"url": "data:..."}}`)."""

    role: str
    mime_type: str
    data: bytes


def images_in(body: dict[str, Any]) -> list[ReceivedImage]:
    """The image inputs of a chat.completions request, decoded from their data URLs, in order."""
    found = []
    for m in body.get("messages") or []:
        for part in m.get("content") if isinstance(m.get("content"), list) else []:
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = str((part.get("image_url") or {}).get("url") or "")
                head, _, data = url.partition(",")
                mime = head.removeprefix("data:").removesuffix(";base64")
                found.append(ReceivedImage(str(m.get("role")), mime, base64.b64decode(data)))
    return found


def answer_for(messages: list[dict[str, Any]]) -> str:
    """The deterministic reply to a conversation: names the last user message and a digest of the whole."""
    last_user = next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    digest = hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).hexdigest()[:8]
    return f"Stand-in answer {digest} to: {last_user[:200]}"


def split_chunks(text: str) -> list[str]:
    """Word-sized deltas that concatenate back to `text`."""
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _count(text: str) -> int:
    return max(1, len(text.split()))


@dataclass
class Fault:
    status: int = 0  # 0: hang instead of failing
    times: int = 1
    seconds: float = 0.0


@dataclass
class LLMStandIn:
    chunk_delay: float = 0.0
    api_key: str | None = None  # when set, any other key gets a 401 like OpenAI's
    requests: list[dict[str, Any]] = field(default_factory=list)
    finished_at: list[float] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    fixed_answer: str | None = None
    transcript: str = "Hello, I would like a large pizza with mushrooms."  # what /v1/audio/transcriptions hears
    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    # Scripted tool calls: each round a list of {"name", "arguments" (a dict, or a raw string as a model may send)}.
    tool_rounds: list[list[dict[str, Any]]] = field(default_factory=list)
    repeat_tools: bool = False
    # Benchmarks: call this tool ({"name", "arguments"}) whenever it is offered and the last turn is the user's.
    auto_tool: dict[str, Any] | None = None

    def script_tools(self, *rounds: list[dict[str, Any]], repeat: bool = False) -> None:
        """The next requests offering tools call these (one round per request); `repeat`: the last round forever."""
        self.tool_rounds = [list(r) for r in rounds]
        self.repeat_tools = repeat

    def _tool_round(self, body: dict[str, Any]) -> list[dict[str, Any]] | None:
        if not body.get("tools"):
            return None
        if self.auto_tool is not None and (body.get("messages") or [{}])[-1].get("role") == "user":
            round_ = [self.auto_tool]
        elif not self.tool_rounds:
            return None
        elif self.repeat_tools and len(self.tool_rounds) == 1:
            round_ = self.tool_rounds[0]
        else:
            round_ = self.tool_rounds.pop(0)
        calls = []
        for c in round_:
            args = c.get("arguments", {})
            calls.append(
                {
                    "id": f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": args if isinstance(args, str) else orjson.dumps(args).decode(),
                    },
                }
            )
        return calls

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/audio/transcriptions", self._transcriptions, methods=["POST"]),
            ]
        )

    def fail(self, status: int, times: int = 1) -> None:
        """Answer the next `times` completion calls with `status` (OpenAI error body)."""
        self.faults.append(Fault(status=status, times=times))

    def hang(self, seconds: float = 30.0, times: int = 1) -> None:
        """Sleep `seconds` before answering the next `times` calls."""
        self.faults.append(Fault(status=0, times=times, seconds=seconds))

    def reset(self) -> None:
        self.requests.clear()
        self.finished_at.clear()
        self.faults.clear()
        self.chunk_delay = 0.0
        self.fixed_answer = None
        self.tool_rounds = []
        self.repeat_tools = False

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]["body"]

    def images(self, index: int = -1) -> list[ReceivedImage]:
        """The image inputs (decoded) of the `index`th request."""
        return images_in(self.requests[index]["body"])

    def _next_fault(self) -> Fault | None:
        while self.faults and self.faults[0].times <= 0:
            self.faults.pop(0)
        if not self.faults:
            return None
        self.faults[0].times -= 1
        return self.faults[0]

    def _tool_calls(self, body, cid, created, model, calls, usage) -> Response:
        self.finished_at.append(time.time())
        return _tool_calls_response(body, cid, created, model, calls, usage)

    async def _transcriptions(self, request: Request) -> Response:
        """OpenAI's audio transcriptions (verbose_json): `transcript` for any audio, the upload's size recorded."""
        form = await request.form()
        upload = form["file"]
        audio = await upload.read()
        self.transcriptions.append({"model": form.get("model"), "bytes": len(audio), "filename": upload.filename})
        text = self.transcript
        return JSONResponse(
            {
                "task": "transcribe",
                "language": "english",
                "duration": 2.0,
                "text": text,
                "segments": [{"id": 0, "start": 0.0, "end": 2.0, "text": text}],
                "words": [],
            }
        )

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "stand-in", "object": "model", "owned_by": "test"}]})

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        auth = request.headers.get("authorization", "")
        self.requests.append({"body": body, "authorization": auth, "at": time.time()})
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return _error(401, "invalid_api_key", "Incorrect API key provided")
        fault = self._next_fault()
        if fault is not None:
            if fault.status == 0:
                await asyncio.sleep(fault.seconds)
            else:
                return _error(fault.status, "stand_in_failure", f"stand-in failure {fault.status}")
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not messages:
            return _error(400, "invalid_request_error", "messages must be a non-empty array")
        text = self.fixed_answer if self.fixed_answer is not None else answer_for(messages)
        model = str(body.get("model") or "stand-in")
        cid = f"chatcmpl-{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        created = int(time.time())
        usage = {
            "prompt_tokens": sum(_count(text_of(m.get("content"))) for m in messages),
            "completion_tokens": _count(text),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        calls = self._tool_round(body)
        if calls is not None:
            return self._tool_calls(body, cid, created, model, calls, usage)
        if not body.get("stream"):
            self.finished_at.append(time.time())
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events():
            base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
            first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            yield _sse(base | {"choices": [first]})
            for piece in split_chunks(text):
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
                yield _sse(base | {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            yield _sse(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if include_usage:
                yield _sse(base | {"choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"
            self.finished_at.append(time.time())

        return StreamingResponse(events(), media_type="text/event-stream")


def _tool_calls_response(
    body: dict[str, Any], cid: str, created: int, model: str, calls: list[dict[str, Any]], usage: dict[str, int]
) -> Response:
    """The model asking for `calls`, as OpenAI sends it: one message, or streamed pieces (name first, then the
    arguments in two halves) with finish_reason tool_calls."""
    if not body.get("stream"):
        message = {"role": "assistant", "content": None, "tool_calls": calls}
        return JSONResponse(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                "usage": usage,
            }
        )
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    async def events():
        base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return _sse(base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        yield chunk({"role": "assistant", "content": None})
        for i, c in enumerate(calls):
            head = {
                "index": i,
                "id": c["id"],
                "type": "function",
                "function": {"name": c["function"]["name"], "arguments": ""},
            }
            yield chunk({"tool_calls": [head]})
            args = c["function"]["arguments"]
            for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                yield chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
        yield chunk({}, "tool_calls")
        if include_usage:
            yield _sse(base | {"choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _error(status: int, code: str, message: str) -> JSONResponse:
    # retry-after-ms keeps the SDK's backoff short in tests; real OpenAI sends the same header.
    headers = {"retry-after-ms": "20"} if status in (429, 500, 502, 503) else {}
    return JSONResponse(
        {"error": {"message": message, "type": code, "param": None, "code": code}}, status_code=status, headers=headers
    )
