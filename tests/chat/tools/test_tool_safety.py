"""What a tool may be and reach: schemas and URLs checked when saved, private addresses refused when saved and again
when called (a name that rebinds to 127.0.0.1), another tenant's tools 404, roles like assistants."""

from __future__ import annotations

import orjson

from tests.chat.tools.conftest import ORDER_SCHEMA, TOOL_SECRET, tools_platform

SERVICES = ("auth", "chat")
PUBLIC = "93.184.216.34"


class Rebinding:
    """A resolver whose `rebind.tools.test` answers a public address once, then 127.0.0.1 (DNS rebinding)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host == "internal.tools.test":
            return ["10.1.2.3"]
        if host == "rebind.tools.test":
            return [PUBLIC] if self.asked.count(host) == 1 else ["127.0.0.1"]
        return [PUBLIC]


async def test_private_urls_refused_when_saved_and_when_called(stack, committed_db, tmp_path):
    resolver = Rebinding()
    async with tools_platform(
        stack,
        tmp_path,
        services=SERVICES,
        chat={"tools_allow_private_networks": False},
        app_kwargs={"chat": {"resolver": resolver}},
    ) as p:
        t = await p.tenant("Guard")
        assistant = await p.assistant(t)
        port = p.tools_url.rsplit(":", 1)[1]
        base = {"type": "http", "name": "check_order", "parameters": ORDER_SCHEMA}
        path = f"/api/v1/assistants/{assistant}/tools"
        for url in (
            f"{p.tools_url}/tools/check_order",  # loopback
            "http://internal.tools.test/hook",  # a name on a private network
            "http://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
            "http://[::1]/hook",
            "ftp://files.tools.test/x",
        ):
            r = await p.gw.post(path, headers=t.headers, json=base | {"url": url})
            assert r.status_code == 422, (url, r.text)
        assert p.tools.calls == []

        tool = await p.http_tool(t, assistant, "check_order", url=f"http://rebind.tools.test:{port}/tools/check_order")
        r = await p.gw.patch(f"{path}/{tool['id']}", headers=t.headers, json={"url": "http://127.0.0.1/x"})
        assert r.status_code == 422, r.text

        p.llm.script_tools([{"name": "check_order", "arguments": {"order_id": "1"}}])
        r = await p.gw.post("/api/v1/chat", headers=t.headers, json={"message": "order 1?"})
        assert r.status_code == 200 and r.json()["reply"], r.text
        [call] = [m for m in await p.messages(t, r.json()["thread_id"]) if m["role"] == "tool"]
        assert call["status"] == "refused" and "public address" in call["result"]
        r = await p.gw.post(f"{path}/{tool['id']}/test", headers=t.headers, json={"arguments": {"order_id": "2"}})
        assert r.status_code == 200 and r.json()["status"] == "refused", r.text
        assert p.tools.calls == []  # the rebinding name never reached the loopback stand-in
        assert resolver.asked.count("rebind.tools.test") == 3


async def test_tool_api_checks_schemas_names_tenants_and_roles(stack, committed_db, tmp_path):
    async with tools_platform(stack, tmp_path, services=SERVICES) as p:
        a = await p.tenant("Alpha", secrets={"hook": TOOL_SECRET})
        b = await p.tenant("Beta")
        assistant = await p.assistant(a)
        path = f"/api/v1/assistants/{assistant}/tools"
        good = {"type": "http", "name": "check_order", "parameters": ORDER_SCHEMA, "url": f"{p.tools_url}/tools/x"}
        deep: dict = {"type": "string"}
        for _ in range(12):
            deep = {"type": "object", "properties": {"x": deep}}
        for bad in (
            {"parameters": {"type": "object", "properties": {"a": {"type": "strnig"}}}},  # not a valid schema
            {"parameters": {"type": "array"}},  # not an object schema
            {"parameters": deep},
            {"parameters": {"type": "object", "properties": {"a": {"$ref": "https://schemas.example/a.json"}}}},
            {"name": "bad name!"},
            {"timeout_seconds": 999},
            {"method": "DELETE"},
        ):
            r = await p.gw.post(path, headers=a.headers, json=good | bad)
            assert r.status_code == 422, (bad, r.text)
        r = await p.gw.post(path, headers=a.headers, json={"type": "builtin", "name": "drop_tables"})
        assert r.status_code == 422
        tool = await p.add_tool(a, assistant, **good, secret_name="hook")
        assert (await p.gw.post(path, headers=a.headers, json=good)).status_code == 409
        one = f"{path}/{tool['id']}"
        r = await p.gw.patch(one, headers=a.headers, json={"description": "Looks an order up.", "timeout_seconds": 3})
        assert r.status_code == 200 and r.json()["timeout_seconds"] == 3
        assert TOOL_SECRET not in orjson.dumps(r.json()).decode()

        # another tenant: every path answers 404, nothing changes
        assert (await p.gw.get(path, headers=b.headers)).status_code == 404
        assert (await p.gw.post(path, headers=b.headers, json=good | {"name": "mine"})).status_code == 404
        assert (await p.gw.get(one, headers=b.headers)).status_code == 404
        assert (await p.gw.patch(one, headers=b.headers, json={"description": "x"})).status_code == 404
        assert (await p.gw.post(f"{one}/test", headers=b.headers, json={"arguments": {}})).status_code == 404
        assert (await p.gw.delete(one, headers=b.headers)).status_code == 404
        other_assistant = await p.assistant(b)
        r = await p.gw.get(f"/api/v1/assistants/{other_assistant}/tools/{tool['id']}", headers=b.headers)
        assert r.status_code == 404
        assert p.tools.calls == []

        # roles like assistants: a viewer reads, only an admin changes
        viewer = await p.member(a, "Viewer", "viewer")
        assert (await p.gw.get(path, headers=viewer.headers)).status_code == 200
        assert (await p.gw.post(path, headers=viewer.headers, json=good | {"name": "v"})).status_code == 403
        assert (await p.gw.delete(one, headers=viewer.headers)).status_code == 403
        assert (await p.gw.get(one, headers=a.headers)).json()["description"] == "Looks an order up."
        assert (await p.gw.delete(one, headers=a.headers)).status_code == 204
        assert (await p.gw.get(one, headers=a.headers)).status_code == 404
