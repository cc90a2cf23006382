"""Stand-in servers: OpenAI's audio transcription endpoint, AssemblyAI's upload/transcript API, a webhook receiver.

They speak the providers' wire formats (multipart / JSON bodies, auth headers, realistic response bodies) and
record every request, so the real `openai` client and httpx run against them.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TRANSCRIPT_TEXT = "Hello, I would like to order a large pizza. Sure, which size do you want?"


@dataclass
class Recorder:
    calls: list[dict[str, Any]] = field(default_factory=list)

    def of(self, path_part: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if path_part in c["path"]]


def openai_app(rec: Recorder, api_key: str = "sk-test-openai") -> Starlette:
    async def transcriptions(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {api_key}":
            return JSONResponse(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status_code=401,
            )
        form = await request.form()
        upload = form["file"]
        audio = await upload.read()
        call = {
            "path": request.url.path,
            "model": form.get("model"),
            "response_format": form.get("response_format"),
            "language": form.get("language"),
            "chunking_strategy": form.get("chunking_strategy"),
            "timestamp_granularities": form.getlist("timestamp_granularities[]"),
            "filename": upload.filename,
            "audio_bytes": len(audio),
        }
        rec.calls.append(call)
        if not audio:
            return JSONResponse({"error": {"message": "Audio file is empty", "type": "invalid_request_error"}}, 400)
        if call["response_format"] == "diarized_json":
            return JSONResponse(
                {
                    "task": "transcribe",
                    "duration": 6.2,
                    "text": TRANSCRIPT_TEXT,
                    "segments": [
                        {
                            "type": "transcript.text.segment",
                            "id": "seg_0",
                            "start": 0.0,
                            "end": 2.9,
                            "speaker": "A",
                            "text": "Hello, I would like to order a large pizza.",
                        },
                        {
                            "type": "transcript.text.segment",
                            "id": "seg_1",
                            "start": 3.1,
                            "end": 6.2,
                            "speaker": "B",
                            "text": " Sure, which size do you want?",
                        },
                    ],
                    "usage": {"type": "tokens", "input_tokens": 120, "output_tokens": 20, "total_tokens": 140},
                }
            )
        words = [
            {"word": w, "start": round(i * 0.4, 2), "end": round(i * 0.4 + 0.35, 2)}
            for i, w in enumerate(TRANSCRIPT_TEXT.replace(",", "").replace(".", "").replace("?", "").split())
        ]
        return JSONResponse(
            {
                "task": "transcribe",
                "language": "english",
                "duration": 6.2,
                "text": TRANSCRIPT_TEXT,
                "segments": [
                    {
                        "id": 0,
                        "seek": 0,
                        "start": 0.0,
                        "end": 2.9,
                        "text": " Hello, I would like to order a large pizza.",
                        "tokens": [50364, 2425],
                        "temperature": 0.0,
                        "avg_logprob": -0.21,
                        "compression_ratio": 1.1,
                        "no_speech_prob": 0.01,
                    },
                    {
                        "id": 1,
                        "seek": 0,
                        "start": 3.1,
                        "end": 6.2,
                        "text": " Sure, which size do you want?",
                        "tokens": [50514, 4894],
                        "temperature": 0.0,
                        "avg_logprob": -0.25,
                        "compression_ratio": 1.1,
                        "no_speech_prob": 0.01,
                    },
                ],
                "words": words,
                "usage": {"type": "duration", "seconds": 7},
            }
        )

    return Starlette(routes=[Route("/v1/audio/transcriptions", transcriptions, methods=["POST"])])


def assemblyai_app(
    rec: Recorder, api_key: str = "aai-test-key", polls_before_done: int = 2, fail_with: str | None = None
) -> Starlette:
    uploads: dict[str, int] = {}
    transcripts: dict[str, dict[str, Any]] = {}
    counter = itertools.count()

    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == api_key

    async def upload(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "Authentication error, API token missing/invalid"}, 401)
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        token = uuid.uuid4().hex
        uploads[token] = size
        rec.calls.append({"path": request.url.path, "bytes": size, "content_type": request.headers.get("content-type")})
        return JSONResponse({"upload_url": f"https://cdn.assemblyai.com/upload/{token}"})

    async def create(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "Authentication error, API token missing/invalid"}, 401)
        body = await request.json()
        rec.calls.append({"path": request.url.path, "body": body})
        token = body["audio_url"].rsplit("/", 1)[-1]
        if token not in uploads:
            return JSONResponse({"error": "Download error, unable to download audio_url"}, 400)
        tid = f"{next(counter):04d}-{uuid.uuid4()}"
        transcripts[tid] = {"request": body, "polls": 0}
        return JSONResponse(
            {
                "id": tid,
                "status": "queued",
                "audio_url": body["audio_url"],
                "speaker_labels": body.get("speaker_labels", False),
                "text": None,
                "words": None,
            }
        )

    async def get(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "Authentication error, API token missing/invalid"}, 401)
        tid = request.path_params["tid"]
        rec.calls.append({"path": request.url.path})
        t = transcripts.get(tid)
        if t is None:
            return JSONResponse({"error": "Transcript not found"}, 404)
        t["polls"] += 1
        if t["polls"] <= polls_before_done:
            return JSONResponse({"id": tid, "status": "queued" if t["polls"] == 1 else "processing"})
        if fail_with:
            return JSONResponse({"id": tid, "status": "error", "error": fail_with})
        speakers = t["request"].get("speaker_labels")
        w = [
            ("Hello,", 100, 420, "A"),
            ("I", 440, 500, "A"),
            ("would", 520, 700, "A"),
            ("like", 720, 900, "A"),
            ("a", 920, 980, "A"),
            ("pizza.", 1000, 1500, "A"),
            ("Which", 2000, 2300, "B"),
            ("size?", 2320, 2900, "B"),
        ]
        words = [
            {"text": t_, "start": s, "end": e, "confidence": 0.97, "speaker": sp if speakers else None}
            for t_, s, e, sp in w
        ]
        body = {
            "id": tid,
            "status": "completed",
            "language_code": t["request"].get("language_code", "en_us"),
            "audio_duration": 3,
            "text": "Hello, I would like a pizza. Which size?",
            "words": words,
            "utterances": [
                {
                    "speaker": "A",
                    "start": 100,
                    "end": 1500,
                    "confidence": 0.97,
                    "text": "Hello, I would like a pizza.",
                    "words": words[:6],
                },
                {
                    "speaker": "B",
                    "start": 2000,
                    "end": 2900,
                    "confidence": 0.95,
                    "text": "Which size?",
                    "words": words[6:],
                },
            ]
            if speakers
            else None,
        }
        return JSONResponse(body)

    return Starlette(
        routes=[
            Route("/v2/upload", upload, methods=["POST"]),
            Route("/v2/transcript", create, methods=["POST"]),
            Route("/v2/transcript/{tid}", get, methods=["GET"]),
        ]
    )


def webhook_app(rec: Recorder) -> Starlette:
    async def hook(request: Request) -> Response:
        rec.calls.append({"path": request.url.path, "headers": dict(request.headers), "body": await request.body()})
        return Response(status_code=204)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])
