"""Customer photos through the real stack: the webhook stores a pending `image` message, channels' media group fetches
the bytes from the (stand-in) provider and checks them, chat stores them with the message, and the burst is answered
once, with the photo, by a vision assistant (the others read "[image]")."""

from __future__ import annotations

import asyncio

from tests.support.images import image_bytes
from tests.support.plugin import wait_for

THUMB = image_bytes("JPEG", size=(2, 2), color=(0, 0, 0))
PHOTO = image_bytes("JPEG", size=(8, 6), color=(220, 40, 40))
WA_IMAGE = image_bytes("PNG", size=(5, 5), color=(0, 160, 60))


async def _answered(p, count: int) -> None:
    await wait_for(lambda: len(p.llm.requests) >= count, timeout=60, interval=0.05)


async def test_telegram_and_twilio_photos_reach_vision_and_blind_assistants(pipeline):
    p = pipeline
    await p.setup_tenant(buffer_enabled=True, buffer_seconds=1, buffer_max_wait_seconds=30)
    assistants = (await p.gw.get("/api/v1/assistants", headers=p.headers)).json()["items"]
    r = await p.gw.patch(f"/api/v1/assistants/{assistants[0]['id']}", json={"vision": True}, headers=p.headers)
    assert r.status_code == 200 and r.json()["vision"] is True
    tg = await p.tenant_channel("telegram")
    tw = await p.tenant_channel("whatsapp_twilio")
    big = b"\xff\xd8\xff" + bytes(range(256)) * 12  # over CHANNELS_IMAGE_MAX_BYTES below
    p.tg.files.update({"THUMB": THUMB, "PHOTO": PHOTO, "TEXT": b"plain text, not an image", "BIG": big})
    p.tw.media["IMG1"] = (WA_IMAGE, "image/png")
    p.start_worker("chat")
    p.start_worker("channels", image_max_bytes=2048)

    # A burst with words and a photo (largest size taken): one answer, which saw both and the photo's very bytes.
    assert (await p.telegram(tg, 500, "oi, chegou assim")).status_code == 200
    assert (await p.telegram_photo(tg, 501, ["THUMB", "PHOTO"], caption="olha a pizza")).status_code == 200
    await wait_for(lambda: p.tg.named("sendMessage"), timeout=60)
    (seen,) = p.llm.images(0)
    assert seen.data == PHOTO and seen.mime_type == "image/jpeg" and seen.role == "user"
    assert p.user_texts(p.llm.requests[0])[-2:] == ["oi, chegou assim", "olha a pizza"]
    assert [c["params"]["file_id"] for c in p.tg.named("getFile")] == ["PHOTO"]
    # The console's view: the message lists the image, and the gateway serves its bytes with the proven type.
    thread = (await p.gw.get("/api/v1/threads", headers=p.headers)).json()["items"][0]
    msgs = (await p.gw.get(f"/api/v1/threads/{thread['id']}/messages", headers=p.headers)).json()["items"]
    photo_msg = next(m for m in msgs if m["attachments"])
    assert photo_msg["content"] == "olha a pizza" and photo_msg["attachments"][0]["size"] == len(PHOTO)
    got = await p.gw.get(photo_msg["attachments"][0]["url"], headers=p.headers)
    assert got.status_code == 200 and got.content == PHOTO and got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"

    # A file that is not an image (declared image/png), a photo Telegram cannot find and one over the size cap:
    # "[image unavailable]", and the burst still gets its one answer.
    doc = p.telegram_update(502, "")
    del doc["message"]["text"]
    doc["message"]["document"] = {"file_id": "TEXT", "file_unique_id": "t", "mime_type": "image/png"}
    r = await p.gw.post(
        f"/webhooks/telegram/{tg['id']}", json=doc, headers={"X-Telegram-Bot-Api-Secret-Token": tg["secret"]}
    )
    assert r.status_code == 200
    assert (await p.telegram_photo(tg, 503, ["GONE"])).status_code == 200
    assert (await p.telegram_photo(tg, 504, ["BIG"], caption="e essa grande")).status_code == 200
    await _answered(p, 2)
    assert [i.data for i in p.llm.images(1)] == [PHOTO]  # only the earlier photo: the new ones never arrived
    assert p.user_texts(p.llm.requests[1])[-3:] == [
        "[image unavailable]", "[image unavailable]", "e essa grande\n[image unavailable]"
    ]  # fmt: skip

    # WhatsApp through Twilio to a blind assistant: "[image]" and the caption, no image input; fetched with the
    # channel's credentials from Twilio's host.
    r = await p.gw.patch(f"/api/v1/assistants/{assistants[0]['id']}", json={"vision": False}, headers=p.headers)
    assert r.status_code == 200
    media = ((f"{p.urls['twilio']}/media/IMG1", "image/png"),)
    assert (await p.twilio(tw, "SMimage1", "e essa?", media=media)).status_code == 200
    await _answered(p, 3)
    assert p.llm.images(2) == []
    assert p.user_texts(p.llm.requests[2])[-1] == "[image]\ne essa?"
    assert [c["auth_ok"] for c in p.tw.calls if c["method"] == "media"] == [True]
    wa_thread = next(
        t for t in (await p.gw.get("/api/v1/threads", headers=p.headers)).json()["items"] if t["channel"] != "telegram"
    )
    wa_msgs = (await p.gw.get(f"/api/v1/threads/{wa_thread['id']}/messages", headers=p.headers)).json()["items"]
    url = wa_msgs[0]["attachments"][0]["url"]
    assert (await p.gw.get(url, headers=p.headers)).content == WA_IMAGE

    await asyncio.sleep(1.0)  # nothing answers twice
    assert len(p.llm.requests) == 3 and len(p.tg.named("sendMessage")) == 2
