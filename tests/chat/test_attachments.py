"""Images on messages through chat's API: verified from their bytes, stored with the message, served back to the
caller's tenant only, and given to the model as image inputs when the assistant has `vision` (else "[image]")."""

from __future__ import annotations

import pytest

from services.chat.app import create_app
from tests.support.images import FileHost, b64, image_bytes
from tests.support.plugin import app_client, serve_app

from .conftest import chat_settings, new_thread, post

PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG", color=(10, 120, 200))
MAX = 4096  # CHAT_ATTACHMENT_MAX_BYTES of these tests: the tiny images fit, a bigger one does not


@pytest.fixture
async def files():
    host = FileHost()
    async with serve_app(host.app) as url:
        host.url = url
        yield host


@pytest.fixture
async def client(stack, db_conn, llm):
    """Chat as deployed: attachment URLs must resolve to public addresses."""
    app = create_app(chat_settings(stack, llm, attachment_max_bytes=MAX))
    async with app_client(app, db_conn=db_conn) as c:
        yield c


@pytest.fixture
async def local_client(stack, db_conn, llm):
    """Chat of a local set-up (CHAT_ATTACHMENT_ALLOW_PRIVATE_URLS=true): the loopback file host is reachable."""
    app = create_app(chat_settings(stack, llm, attachment_max_bytes=MAX, attachment_allow_private_urls=True))
    async with app_client(app, db_conn=db_conn) as c:
        yield c


async def _assistant(client, headers, vision: bool) -> str:
    r = await client.post(
        "/api/v1/assistants", json={"name": f"eyes-{vision}", "vision": vision, "use_knowledge": False}, headers=headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["vision"] is vision
    return r.json()["id"]


def _user_turn(body: dict) -> dict:
    return [m for m in body["messages"] if m["role"] == "user"][-1]


async def test_vision_assistant_gets_the_image_bytes_and_the_api_serves_them_back(client, headers, llm):
    assistant = await _assistant(client, headers, vision=True)
    thread = await new_thread(client, headers, assistant_id=assistant)
    r = await post(
        client,
        headers,
        thread["id"],
        "what is on this photo?",
        attachments=[{"data": b64(PNG), "mime_type": "image/png"}],
    )
    assert r.status_code == 201, r.text
    # The model got the caption and the very bytes, as an OpenAI image input.
    content = _user_turn(llm.last)["content"]
    assert content[0] == {"type": "text", "text": "what is on this photo?"}
    (seen,) = llm.images()
    assert seen.role == "user" and seen.mime_type == "image/png" and seen.data == PNG
    user = r.json()["user_message"]
    (att,) = user["attachments"]
    assert att["mime_type"] == "image/png" and att["size"] == len(PNG) and att["position"] == 0
    assert att["url"] == f"/api/v1/messages/{user['id']}/attachments/0"
    # Listed with the message, and served with the verified type, nosniff.
    items = (await client.get(f"/api/v1/threads/{thread['id']}/messages", headers=headers)).json()["items"]
    assert items[0]["attachments"] == [att] and items[1]["attachments"] == []
    got = await client.get(att["url"], headers=headers)
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png" and got.headers["x-content-type-options"] == "nosniff"
    assert (await client.get(f"/api/v1/messages/{user['id']}", headers=headers)).json()["attachments"] == [att]


async def test_blind_assistant_reads_image_marker_and_caption_no_image_part(client, headers, llm):
    assistant = await _assistant(client, headers, vision=False)
    thread = await new_thread(client, headers, assistant_id=assistant)
    r = await post(client, headers, thread["id"], "is it broken?", attachments=[{"data": b64(PNG)}])
    assert r.status_code == 201, r.text
    assert _user_turn(llm.last)["content"] == "[image]\nis it broken?"
    assert llm.images() == []
    # An image without words: the message's text is the marker, and so is what the model reads.
    r = await post(client, headers, thread["id"], "", attachments=[{"data": b64(JPEG)}, {"data": b64(PNG)}])
    assert r.status_code == 201, r.text
    assert r.json()["user_message"]["content"] == "[image]"
    assert [a["mime_type"] for a in r.json()["user_message"]["attachments"]] == ["image/jpeg", "image/png"]
    assert _user_turn(llm.last)["content"] == "[image] [image]"
    assert llm.images() == []


async def test_chat_endpoint_fetches_a_url_once_and_checks_the_real_bytes(local_client, headers, llm, files):
    files.files["photo.bin"] = (JPEG, "application/octet-stream")  # declared type ignored: the bytes are a JPEG
    assistant = await _assistant(local_client, headers, vision=True)
    r = await local_client.post(
        "/api/v1/chat",
        json={"message": "see", "assistant_id": assistant, "attachments": [{"url": f"{files.url}/f/photo.bin"}]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert files.asked == ["photo.bin"]
    (seen,) = llm.images()
    assert seen.mime_type == "image/jpeg" and seen.data == JPEG
    # The same thread, a second question: the image stays in the vision model's context, not fetched again.
    r2 = await local_client.post(
        "/api/v1/chat", json={"message": "and now?", "thread_id": r.json()["thread_id"]}, headers=headers
    )
    assert r2.status_code == 200 and files.asked == ["photo.bin"]
    assert [i.data for i in llm.images()] == [JPEG]
    # A URL whose bytes are not an image is refused, as is one that does not answer 200.
    files.files["page.png"] = (b"<html>not a png</html>", "image/png")
    bad = await local_client.post(
        "/api/v1/chat", json={"message": "x", "attachments": [{"url": f"{files.url}/f/page.png"}]}, headers=headers
    )
    assert bad.status_code == 415 and bad.json()["code"] == "attachment_type_refused"
    gone = await local_client.post(
        "/api/v1/chat", json={"message": "x", "attachments": [{"url": f"{files.url}/f/missing"}]}, headers=headers
    )
    assert gone.status_code == 422 and gone.json()["code"] == "attachment_url_unavailable"


@pytest.mark.parametrize(
    "attachment, status, code",
    [
        ({"data": b64(b"\x89PNG\r\n\x1a\n" + b"just text, a PNG header glued on"), "mime_type": "image/png"},
         415, "attachment_type_refused"),
        ({"data": b64(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
          "mime_type": "image/svg+xml"}, 415, "attachment_type_refused"),
        ({"data": b64(PNG + b"\0" * MAX)}, 413, "attachment_too_large"),
        ({"data": "not base64 at all!"}, 400, "attachment_invalid"),
        ({"url": "http://127.0.0.1:9/inside.png"}, 400, "attachment_url_refused"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, 400, "attachment_url_refused"),
        ({"url": "file:///etc/passwd"}, 400, "attachment_url_refused"),
    ],
)  # fmt: skip
async def test_refused_attachments_are_4xx_and_store_nothing(client, headers, llm, attachment, status, code):
    thread = await new_thread(client, headers)
    r = await post(client, headers, thread["id"], "look", attachments=[attachment])
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json") and r.json()["code"] == code
    assert llm.requests == []
    items = (await client.get(f"/api/v1/threads/{thread['id']}/messages", headers=headers)).json()["items"]
    assert items == []


async def test_too_many_attachments_and_no_source(client, headers):
    thread = await new_thread(client, headers)
    five = [{"data": b64(PNG)}] * 5  # CHAT_ATTACHMENTS_MAX_PER_MESSAGE defaults to 4
    r = await post(client, headers, thread["id"], "many", attachments=five)
    assert r.status_code == 422 and r.json()["code"] == "too_many_attachments"
    r = await post(client, headers, thread["id"], "none", attachments=[{"mime_type": "image/png"}])
    assert r.status_code == 422  # neither url nor data: the schema refuses it
    r = await post(client, headers, thread["id"], "both", attachments=[{"data": b64(PNG), "url": "https://x.org/a"}])
    assert r.status_code == 422


async def test_another_tenants_attachment_is_404(client, headers, other_headers):
    thread = await new_thread(client, headers)
    r = await post(client, headers, thread["id"], "mine", attachments=[{"data": b64(PNG)}])
    assert r.status_code == 201, r.text
    url = r.json()["user_message"]["attachments"][0]["url"]
    assert (await client.get(url, headers=headers)).status_code == 200
    theirs = await client.get(url, headers=other_headers)
    assert theirs.status_code == 404 and theirs.json()["code"] == "attachment_not_found"
    assert PNG not in theirs.content
    missing = await client.get(url.removesuffix("/0") + "/1", headers=headers)
    assert missing.status_code == 404
    # Deleted with its thread: gone for its own tenant too.
    assert (await client.delete(f"/api/v1/threads/{thread['id']}", headers=headers)).status_code == 204
    assert (await client.get(url, headers=headers)).status_code == 404

