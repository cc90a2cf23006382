"""Threads: lists and filters, soft delete and restore, pagination, tenant isolation, scopes."""

import uuid

from .conftest import new_thread, post


async def test_soft_delete_hides_and_restore_brings_back(chat_client, headers):
    thread = await new_thread(chat_client, headers, title="to delete", message="hello")
    tid = thread["id"]
    assert (await chat_client.delete(f"/api/v1/threads/{tid}", headers=headers)).status_code == 204
    assert (await chat_client.get(f"/api/v1/threads/{tid}", headers=headers)).status_code == 404
    assert (await chat_client.get(f"/api/v1/threads/{tid}/messages", headers=headers)).status_code == 404
    # Asked for, the deleted thread and its messages are still readable (the console offers Restore on it).
    r = await chat_client.get(f"/api/v1/threads/{tid}", headers=headers, params={"include_deleted": "true"})
    assert r.status_code == 200 and r.json()["deleted_at"] is not None, r.text
    r = await chat_client.get(f"/api/v1/threads/{tid}/messages", headers=headers, params={"include_deleted": "true"})
    assert r.status_code == 200 and r.json()["items"][0]["content"] == "hello", r.text
    assert (await post(chat_client, headers, tid, "still there?")).status_code == 404
    listed = (await chat_client.get("/api/v1/threads", headers=headers)).json()["items"]
    assert tid not in [t["id"] for t in listed]
    with_deleted = (await chat_client.get("/api/v1/threads?include_deleted=true", headers=headers)).json()["items"]
    assert tid in [t["id"] for t in with_deleted]
    r = await chat_client.post(f"/api/v1/threads/{tid}/restore", headers=headers)
    assert r.status_code == 200 and r.json()["deleted_at"] is None
    assert (await chat_client.get(f"/api/v1/threads/{tid}", headers=headers)).status_code == 200
    assert tid in [t["id"] for t in (await chat_client.get("/api/v1/threads", headers=headers)).json()["items"]]


async def test_filters_rename_and_message_pages(chat_client, headers):
    a = await new_thread(chat_client, headers, title="Pizza order", sector="vendas", message="I want a pizza")
    b = await new_thread(chat_client, headers, title="Billing", sector="financeiro")
    r = await chat_client.patch(
        f"/api/v1/threads/{b['id']}", json={"title": "Invoice", "status": "closed"}, headers=headers
    )
    assert r.json()["title"] == "Invoice" and r.json()["status"] == "closed"

    async def ids(query):
        r = await chat_client.get(f"/api/v1/threads?{query}", headers=headers)
        assert r.status_code == 200, r.text
        return {t["id"] for t in r.json()["items"]}

    assert await ids("sector=vendas") == {a["id"]}
    assert await ids("status=closed") == {b["id"]}
    assert await ids("q=pizza") == {a["id"]}  # title and message text
    assert await ids("q=invoice") == {b["id"]}
    assert await ids("q=100%25") == set()
    assert (await chat_client.get("/api/v1/threads?status=weird", headers=headers)).status_code == 422
    assert (await chat_client.get("/api/v1/threads?limit=500", headers=headers)).status_code == 422
    # message history: oldest -> newest, keyset pages
    await chat_client.patch(f"/api/v1/threads/{a['id']}", json={"ai_enabled": False}, headers=headers)
    for i in range(3):
        await post(chat_client, headers, a["id"], f"extra {i}")
    seen, cursor = [], None
    while True:
        url = f"/api/v1/threads/{a['id']}/messages?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await chat_client.get(url, headers=headers)).json()
        seen += [m["content"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen[0] == "I want a pizza" and seen[2:] == ["extra 0", "extra 1", "extra 2"] and len(seen) == 5
    assert (
        await chat_client.get(f"/api/v1/threads/{a['id']}/messages?cursor=garbage", headers=headers)
    ).status_code == 400


async def test_cross_tenant_is_404_on_every_object(chat_client, headers, other_headers):
    assistant = (await chat_client.post("/api/v1/assistants", json={"name": "A"}, headers=headers)).json()
    contact = (await chat_client.post("/api/v1/contacts", json={"name": "C"}, headers=headers)).json()
    thread = await new_thread(chat_client, headers, contact_id=contact["id"], message="secret")
    msg = thread["assistant_message"]["id"]
    t = thread["id"]
    checks = [
        ("GET", f"/api/v1/assistants/{assistant['id']}", None),
        ("PATCH", f"/api/v1/assistants/{assistant['id']}", {"name": "x"}),
        ("DELETE", f"/api/v1/assistants/{assistant['id']}", None),
        ("GET", f"/api/v1/contacts/{contact['id']}", None),
        ("GET", f"/api/v1/contacts/{contact['id']}/messages", None),
        ("GET", f"/api/v1/threads/{t}", None),
        ("PATCH", f"/api/v1/threads/{t}", {"title": "x"}),
        ("DELETE", f"/api/v1/threads/{t}", None),
        ("POST", f"/api/v1/threads/{t}/restore", None),
        ("GET", f"/api/v1/threads/{t}/messages", None),
        ("POST", f"/api/v1/threads/{t}/messages", {"content": "hi"}),
        ("GET", f"/api/v1/threads/{t}/export?format=json", None),
        ("PATCH", f"/api/v1/messages/{msg}", {"review": "approved"}),
        ("POST", "/api/v1/threads", {"assistant_id": assistant["id"]}),
        ("POST", "/api/v1/threads", {"contact_id": contact["id"]}),
        ("POST", "/api/v1/chat", {"message": "hi", "thread_id": t}),
    ]
    for method, url, body in checks:
        r = await chat_client.request(method, url, json=body, headers=other_headers)
        assert r.status_code == 404, (method, url, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    for url in ("/api/v1/threads", "/api/v1/assistants", "/api/v1/contacts"):
        assert (await chat_client.get(url, headers=other_headers)).json()["items"] == []
    # and nothing changed for the owner
    assert (await chat_client.get(f"/api/v1/threads/{t}", headers=headers)).json()["title"] is None
    assert (await chat_client.get(f"/api/v1/assistants/{assistant['id']}", headers=headers)).status_code == 200
    assert (await chat_client.get(f"/api/v1/threads/{uuid.uuid4()}", headers=headers)).status_code == 404


async def test_read_scope_cannot_post(chat_client, make_token, tenant_id, headers, llm):
    thread = await new_thread(chat_client, headers)
    read_key = {"Authorization": f"Bearer {make_token(sub='key:abc', tenant_id=tenant_id, role=None, scopes=['read'])}"}
    assert (await chat_client.get(f"/api/v1/threads/{thread['id']}/messages", headers=read_key)).status_code == 200
    for method, url, body in [
        ("POST", f"/api/v1/threads/{thread['id']}/messages", {"content": "hi"}),
        ("POST", "/api/v1/threads", {}),
        ("POST", "/api/v1/chat", {"message": "hi"}),
        ("POST", "/v1/chat/completions", {"model": "x", "messages": [{"role": "user", "content": "hi"}]}),
        ("POST", "/api/v1/assistants", {"name": "x"}),
        ("DELETE", f"/api/v1/threads/{thread['id']}", None),
    ]:
        r = await chat_client.request(method, url, json=body, headers=read_key)
        assert r.status_code == 403, (url, r.text)
    assert (await chat_client.get("/api/v1/threads")).status_code == 401
    assert llm.requests == []


async def test_assistants_one_default(chat_client, headers):
    a = (await chat_client.post("/api/v1/assistants", json={"name": "A"}, headers=headers)).json()
    assert a["is_default"] is True  # the first one
    b = (await chat_client.post("/api/v1/assistants", json={"name": "B", "is_default": True}, headers=headers)).json()
    items = (await chat_client.get("/api/v1/assistants", headers=headers)).json()["items"]
    assert {i["name"]: i["is_default"] for i in items} == {"A": False, "B": True}
    thread = await new_thread(chat_client, headers)
    assert thread["assistant_id"] == b["id"]
    bad = await chat_client.post("/api/v1/assistants", json={"name": "C", "temperature": 5}, headers=headers)
    assert bad.status_code == 422


async def test_a_tampered_cursor_is_a_problem_400_on_every_chat_list(chat_client, headers):
    from shared.pagination import encode_cursor

    thread = await new_thread(chat_client, headers)
    tampered = encode_cursor({"k": ["yesterday", "not-an-id"]})
    lists = ("/api/v1/threads", "/api/v1/contacts", "/api/v1/assistants", f"/api/v1/threads/{thread['id']}/messages")
    for path in lists:
        resp = await chat_client.get(f"{path}?cursor={tampered}", headers=headers)
        assert resp.status_code == 400, path
        assert resp.headers["content-type"].startswith("application/problem+json")
