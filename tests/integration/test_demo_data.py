"""The demo data of `make run`, twice against the real platform: the auth seed (tenant, admin, agent, viewer,
sectors) then devtools/demo_content.py through the gateway (a knowledge document, conversations across the seeds'
sectors). The second run creates nothing: every user, role, document and thread exists once."""

from __future__ import annotations

import asyncio

from devtools.demo_content import CONVERSATIONS, FAQ_NAME, seed_demo_content
from services.auth.seed import seed
from tests.support.platform import platform


async def test_demo_data_is_created_once(stack, committed_db, redis, tmp_path):
    async with platform(stack, tmp_path) as p:
        settings = p.settings("auth")
        first = await seed(settings)
        assert await seed(settings) == first
        login = (settings.demo_admin_email, settings.demo_admin_password)
        created = await asyncio.to_thread(seed_demo_content, p.urls["gateway"], *login)
        assert created == {"documents": 1, "threads": len(CONVERSATIONS)}
        again = await asyncio.to_thread(seed_demo_content, p.urls["gateway"], *login)
        assert again == {"documents": 0, "threads": 0}

        tenant_id = first["tenant_id"]
        roles = await p.sql(
            'SELECT u.email, m.role FROM auth.membership m JOIN auth."user" u ON u.id = m.user_id '
            "WHERE m.tenant_id = :t ORDER BY m.role",
            t=tenant_id,
        )
        assert [tuple(r) for r in roles] == [
            (settings.demo_admin_email, "admin"),
            (settings.demo_agent_email, "agent"),
            (settings.demo_viewer_email, "viewer"),
        ]
        sectors = (await p.sql("SELECT sectors FROM auth.tenant WHERE id = :t", t=tenant_id))[0][0]
        threads = await p.sql(
            "SELECT t.title, t.sector, count(m.id) FROM chat.thread t JOIN chat.message m ON m.thread_id = t.id "
            "WHERE t.tenant_id = :t GROUP BY t.id ORDER BY t.title",
            t=tenant_id,
        )
        expected = sorted((c.title, c.sector, len(c.messages)) for c in CONVERSATIONS)
        assert [tuple(r) for r in threads] == expected
        assert {"vendas", "suporte", "financeiro"} <= set(sectors) >= {t[1] for t in expected}
        docs = await p.sql(
            "SELECT count(*) FROM search.document WHERE tenant_id = :t AND filename = :f", t=tenant_id, f=FAQ_NAME
        )
        assert docs[0][0] == 1
