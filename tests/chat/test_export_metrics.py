"""Export (PDF read back with pypdf, Markdown, JSON) and metrics."""

import io
from datetime import UTC, datetime, timedelta

import orjson
from pypdf import PdfReader
from sqlalchemy import text

from .conftest import new_thread, post


async def test_export_every_format_has_every_message(chat_auth, auth, llm):
    _, headers = await auth.tenant_admin()
    contact = (await chat_auth.post("/api/v1/contacts", json={"name": "Maria"}, headers=headers)).json()
    thread = await new_thread(chat_auth, headers, title="Order 42", contact_id=contact["id"], message="Where is it?")
    await post(chat_auth, headers, thread["id"], "On its way, sorry!", role="agent", operator_name="Bia")
    messages = (await chat_auth.get(f"/api/v1/threads/{thread['id']}/messages", headers=headers)).json()["items"]
    assert len(messages) == 3

    r = await chat_auth.get(f"/api/v1/threads/{thread['id']}/export?format=json", headers=headers)
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    data = orjson.loads(r.content)
    assert [m["content"] for m in data["messages"]] == [m["content"] for m in messages]
    assert data["tenant"] == "Acme Pizza" and data["contact"]["name"] == "Maria"

    r = await chat_auth.get(f"/api/v1/threads/{thread['id']}/export?format=markdown", headers=headers)
    md = r.text
    assert r.headers["content-type"].startswith("text/markdown")
    for m in messages:
        assert m["content"] in md
    assert "Acme Pizza" in md and "Agent (Bia)" in md and "Customer" in md

    r = await chat_auth.get(f"/api/v1/threads/{thread['id']}/export?format=pdf", headers=headers)
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    pdf_text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    flat = " ".join(pdf_text.split())
    for m in messages:
        assert " ".join(m["content"].split())[:60] in flat
    assert "Acme Pizza" in flat and "Maria" in flat and "Order 42" in flat
    assert datetime.now(UTC).strftime("%Y-%m-%d") in flat

    r = await chat_auth.get(f"/api/v1/threads/{thread['id']}/export?format=docx", headers=headers)
    assert r.status_code == 422


async def test_metrics_for_the_tenant_and_platform(chat_client, headers, other_headers, make_token, llm):
    thread = await new_thread(chat_client, headers, message="one")
    await post(chat_client, headers, thread["id"], "two")
    await post(chat_client, headers, thread["id"], "human here", role="agent")
    answer = thread["assistant_message"]["id"]
    await chat_client.patch(f"/api/v1/messages/{answer}", json={"review": "approved"}, headers=headers)
    await new_thread(chat_client, other_headers, message="elsewhere")

    m = (await chat_client.get("/api/v1/metrics", headers=headers)).json()
    assert m["threads"] == 1 and m["messages_by_role"]["user"] == 2
    assert m["ai_answers"] == 2 and m["human_answers"] == 1
    assert m["approval"]["approved"] == 1 and m["approval"]["approval_rate"] == 1.0
    assert m["first_response_median_seconds"] is not None and m["first_response_median_seconds"] >= 0
    assert m["tokens"]["requests"] == 2 and m["tokens"]["tokens_in"] > 0
    assert sum(d["messages"] for d in m["per_day"]) == 5

    assert (await chat_client.get("/api/v1/metrics?all=true", headers=headers)).status_code == 403
    su = {"Authorization": f"Bearer {make_token(superuser=True, role=None)}"}
    platform = (await chat_client.get("/api/v1/metrics?all=true", headers=su)).json()
    assert platform["all_tenants"] is True and platform["threads"] >= 2 and platform["tokens"]["requests"] >= 3
    bad = await chat_client.get("/api/v1/metrics?date_from=2026-02-01&date_to=2026-01-01", headers=headers)
    assert bad.status_code == 400


async def test_metrics_per_day_split_answers_and_first_response(chat_client, headers, db_conn, llm):
    """The dashboard's per-day charts: AI vs human answers and the median first response of each day."""
    old = await new_thread(chat_client, headers, message="two days ago")  # user + AI answer
    await post(chat_client, headers, old["id"], "a human too", role="agent")
    today = await new_thread(chat_client, headers, message="today")
    await post(chat_client, headers, today["id"], "human only today", role="agent")
    asked = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=2)
    for role, after in (("user", 0), ("assistant", 4), ("agent", 30)):  # the AI answered 4 s after the question
        await db_conn.execute(
            text("UPDATE chat.message SET created_at = :at WHERE thread_id = :t AND role = :r"),
            {"at": asked + timedelta(seconds=after), "t": old["id"], "r": role},
        )
    start = (asked - timedelta(days=1)).date()
    m = (await chat_client.get(f"/api/v1/metrics?date_from={start}", headers=headers)).json()
    days = {d["day"]: d for d in m["per_day"]}
    before = days[asked.date().isoformat()]
    assert (before["messages"], before["ai_answers"], before["human_answers"]) == (3, 1, 1)
    assert before["first_response_median_seconds"] == 4.0
    now = days[datetime.now(UTC).date().isoformat()]
    assert now["ai_answers"] + now["human_answers"] == now["messages"] - 1  # one question, the rest answers
    assert now["human_answers"] >= 1 and now["first_response_median_seconds"] >= 0
    assert sum(d["ai_answers"] for d in m["per_day"]) == m["ai_answers"]
    assert sum(d["human_answers"] for d in m["per_day"]) == m["human_answers"]
    assert start.isoformat() not in days  # a day without messages is absent: the console draws it as zero
