"""The demo tenant's content, through the public API once the platform is up: a knowledge document (indexed by the
search service like any upload) and a few conversations across the seeds' sectors, so a first look at `make run`
shows something. Idempotent: what exists (by file name, by thread title) is left alone.

The users, the tenant and its sectors come first from `python -m services.auth.seed` (a service of its own owns
each part: devtools only calls their API)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

FAQ_NAME = "demo-faq.md"
FAQ = """# Perguntas frequentes (demo)

## Horário de atendimento
Atendemos de segunda a sexta, das 8h às 18h, e aos sábados das 9h às 13h.

## Prazo de entrega
Pedidos confirmados até as 14h saem no mesmo dia; a entrega leva de 2 a 5 dias úteis.

## Trocas e devoluções
Você pode trocar ou devolver um produto em até 7 dias após o recebimento, na embalagem original.

## Formas de pagamento
Cartão de crédito (até 6x sem juros), Pix e boleto. O boleto vence em 3 dias úteis.

## Segunda via de boleto
Peça ao setor financeiro pelo chat informando o número do pedido.
"""


@dataclass(frozen=True)
class Said:
    role: str  # user (the customer) | agent (a human operator)
    text: str


@dataclass(frozen=True)
class DemoConversation:
    title: str
    sector: str
    messages: tuple[Said, ...]


CONVERSATIONS = (
    DemoConversation(
        "Demo: pedido de orçamento",
        "vendas",
        (
            Said("user", "Olá! Vocês fazem desconto para compras acima de 10 unidades?"),
            Said("agent", "Olá! Sim, acima de 10 unidades o desconto é de 8%. Quer que eu prepare um orçamento?"),
            Said("user", "Quero sim, são 12 unidades do modelo básico."),
        ),
    ),
    DemoConversation(
        "Demo: produto com defeito",
        "suporte",
        (
            Said("user", "Meu aparelho chegou e não liga."),
            Said(
                "agent", "Sinto muito! Pode verificar se a bateria está encaixada? Se não resolver, abrimos uma troca."
            ),
            Said("user", "Verifiquei e continua sem ligar."),
            Said("agent", "Abri a troca: você recebe a etiqueta de envio por e-mail em até 1 dia útil."),
        ),
    ),
    DemoConversation(
        "Demo: segunda via de boleto",
        "financeiro",
        (
            Said("user", "Preciso da segunda via do boleto do pedido 4821."),
            Said("agent", "Claro! Enviei a segunda via para o seu e-mail; o vencimento é em 3 dias úteis."),
        ),
    ),
)


def seed_demo_content(gateway_url: str, email: str, password: str, *, timeout: float = 30.0) -> dict[str, int]:
    """Create what is missing of the demo content as `email` (the demo admin); returns how many of each it created."""
    with httpx.Client(base_url=gateway_url, timeout=timeout) as client:
        r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        return {"documents": _ensure_faq(client), "threads": _ensure_conversations(client)}


def _ensure_faq(client: httpx.Client) -> int:
    r = client.get("/api/v1/documents", params={"limit": 100})
    r.raise_for_status()
    if any(d["filename"] == FAQ_NAME for d in r.json()["items"]):
        return 0
    r = client.post("/api/v1/documents", files={"file": (FAQ_NAME, FAQ.encode(), "text/markdown")})
    r.raise_for_status()
    return 1


def _ensure_conversations(client: httpx.Client) -> int:
    r = client.get("/api/v1/threads", params={"q": "Demo:", "limit": 100})
    r.raise_for_status()
    existing = {t.get("title") for t in r.json()["items"]}
    created = 0
    for conversation in CONVERSATIONS:
        if conversation.title in existing:
            continue
        r = client.post("/api/v1/threads", json={"title": conversation.title, "sector": conversation.sector})
        r.raise_for_status()
        thread_id = r.json()["id"]
        # a human conversation: the demo needs no LLM, and nothing answers these messages
        client.patch(f"/api/v1/threads/{thread_id}", json={"ai_enabled": False}).raise_for_status()
        for said in conversation.messages:
            body = {"content": said.text, "role": said.role}
            if said.role == "agent":
                body["operator_name"] = "Demo Agent"
            client.post(f"/api/v1/threads/{thread_id}/messages", json=body).raise_for_status()
        created += 1
    return created
