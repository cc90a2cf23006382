"""/api/v1/widget/*: the web chat widget's API (API.md, "Web chat"). No API credential is accepted here and the visitor
token is accepted nowhere else. The page calls cross-origin: answers carry `Access-Control-Allow-Origin` for an
origin the channel allows (the gateway answers the preflight, docs/web-chat.md)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from services.channels.web.errors import OriginNotAllowed
from services.channels.web.schemas import (
    SessionCreate,
    SessionRead,
    WidgetMessageAccepted,
    WidgetMessageCreate,
    WidgetMessagePage,
)
from services.channels.web.service import Widget
from services.channels.web.stream import WidgetStream, cors_headers
from services.channels.web.tokens import InvalidVisitorToken, VisitorClaims
from shared.db import SessionDep
from shared.errors import AppError

router = APIRouter(prefix="/api/v1/widget", tags=["widget"])
_TOKEN = {401: {"description": "Visitor token missing, not valid or expired (start a new session)"}}
_PAGE = {403: {"description": "The page's Origin is not in the channel's allowed_origins"}}
_BAD = {400: {"description": "Malformed input (an id that is not one of this stream's)"}}
_LIMIT = {429: {"description": "Too many requests (per client address at the gateway, per visitor here)"}}
T = TypeVar("T")


def get_widget(request: Request) -> Widget:
    return request.app.state.widget


WidgetDep = Annotated[Widget, Depends(get_widget)]
OriginHeader = Annotated[str | None, Header(alias="Origin", include_in_schema=False)]


async def _answering(origin: str | None, call: Awaitable[T]) -> T:
    """Errors reach the page too (an expired token, a limit), except a refusal of the page's own origin."""
    try:
        return await call
    except OriginNotAllowed:
        raise
    except AppError as exc:
        exc.headers = exc.headers | cors_headers(origin)
        raise


@router.post(
    "/sessions",
    status_code=201,
    response_model=SessionRead,
    responses=_PAGE | _LIMIT | {404: {"description": "No web channel has this key"}},
)
async def open_session(
    data: SessionCreate, session: SessionDep, widget: WidgetDep, response: Response, origin: OriginHeader = None
) -> SessionRead:
    answer = await _answering(origin, widget.open_session(session, data, origin))
    response.headers.update(cors_headers(origin))
    return answer


@router.post(
    "/messages",
    status_code=202,
    response_model=WidgetMessageAccepted,
    responses=_TOKEN
    | _PAGE
    | _BAD
    | _LIMIT
    | {
        413: {"description": "Text or image too large"},
        415: {"description": "An attachment that is not an allowed image"},
    },
)
async def post_message(
    data: WidgetMessageCreate, request: Request, widget: WidgetDep, response: Response, origin: OriginHeader = None
) -> WidgetMessageAccepted:
    claims = await _answering(origin, _claims(request, widget))
    entry = await _answering(origin, widget.post(claims, data, origin))
    response.headers.update(cors_headers(origin))
    return WidgetMessageAccepted(id=entry)


@router.get("/messages", response_model=WidgetMessagePage, responses=_TOKEN | _PAGE | _BAD)
async def list_messages(
    request: Request,
    widget: WidgetDep,
    response: Response,
    after: Annotated[str | None, Query(max_length=50)] = None,
    origin: OriginHeader = None,
) -> WidgetMessagePage:
    claims = await _answering(origin, _claims(request, widget))
    items = await _answering(origin, widget.history(claims, after, origin))
    response.headers.update(cors_headers(origin))
    return WidgetMessagePage(items=items)


@router.get(
    "/stream",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`message` and `typing` events"}}
    | _TOKEN
    | _PAGE
    | _BAD
    | _LIMIT,
)
async def stream(
    last_event_id: Annotated[str | None, Header(max_length=50)] = None,
    token: Annotated[str | None, Query(max_length=2048, description="the visitor token, for EventSource")] = None,
) -> Response:
    """Served by the front path (web/stream.py) before FastAPI sees it; declared here for OpenAPI, and answered by
    the same handler if it ever gets here."""
    return _Stream()


class _Stream(Response):
    async def __call__(self, scope, receive, send) -> None:
        await WidgetStream()(scope, receive, send)


async def _claims(request: Request, widget: Widget) -> VisitorClaims:
    """The visitor token from `Authorization: Bearer` or `?token=` (EventSource cannot set headers)."""
    value = request.query_params.get("token")
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credential = authorization.partition(" ")
        value = credential.strip() if scheme.lower() == "bearer" else None
    if not value or len(value) > 2048:
        raise InvalidVisitorToken("a visitor token is required (Authorization: Bearer <visitor_token>)")
    return widget.tokens.verify(value)
