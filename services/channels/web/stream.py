"""One visitor's live stream (SSE): what they missed since `Last-Event-ID`, then every answer, agent reply and typing
hint of their conversation as it comes, whichever channels replica published it (web/hub.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.channels.web.hub import RESYNC, WidgetHub
from services.channels.web.transcript import Transcript, TranscriptEntry, id_after

REPLAY_MAX = 500  # entries replayed at once (the transcript keeps about CHANNELS_WIDGET_TRANSCRIPT_MAXLEN)
_TYPING = {"event": "typing", "data": "{}"}


def _message(entry: TranscriptEntry) -> dict:
    return {"id": entry.id, "event": "message", "data": entry.json()}


async def visitor_events(hub: WidgetHub, transcript: Transcript, conv: str, last_id: str | None) -> AsyncIterator[dict]:
    """Registered with the hub before the replay, so an event published meanwhile is queued, then skipped by id if
    the replay already had it."""
    with hub.listen(conv) as listener:
        if last_id is None:
            last_id = await transcript.last_id(conv)
        else:
            for entry in await transcript.after(conv, last_id, REPLAY_MAX):
                last_id = entry.id
                yield _message(entry)
        while True:
            item = await listener.queue.get()
            if item is RESYNC:
                for entry in await transcript.after(conv, last_id, REPLAY_MAX):
                    last_id = entry.id
                    yield _message(entry)
                continue
            if item.get("e") == "typing":
                yield _TYPING
                continue
            entry_id = item.get("id")
            if not isinstance(entry_id, str) or not id_after(entry_id, last_id):
                continue  # replayed already
            last_id = entry_id
            entry = TranscriptEntry(entry_id, item["role"], item["content"], item["created_at"])
            yield _message(entry)
