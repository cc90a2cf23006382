"""The event contracts (shared/events/contract.py): one name per stream and type, payloads validated both ways."""

from __future__ import annotations

import uuid

import orjson
import pytest

from shared.events import Envelope, auth_keys, channels, chat, media, ops, search, tenants, transcription
from shared.events.contract import EventType, Stream
from shared.events.errors import InvalidPayload, PermanentError
from shared.events.handlers import TransactionalHandler
from shared.events.worker import ConsumerSpec

MODULES = (auth_keys, channels, chat, media, ops, search, tenants, transcription)


def _all(kind: type) -> list:
    return [v for m in MODULES for v in vars(m).values() if isinstance(v, kind)]


def test_every_stream_and_type_is_defined_once_and_versioned():
    streams = {str(s) for s in _all(Stream)}
    assert streams == {
        "channels.inbound.v1", "chat.outbound.v1", "transcription.requested.v1", "transcription.completed.v1",
        "search.index.v1", "tenants.changed.v1", "auth.keys.v1", "ops.logs", "channels.media.v1",
        "channels.delivery_failed.v1",
    }  # fmt: skip
    types = _all(EventType)
    assert len({str(t) for t in types}) == len({id(t) for t in types})  # no type name on two contracts
    assert all(t.stream in streams for t in types)
    assert chat.TYPING.stream == chat.OUTBOUND_STREAM == "chat.outbound.v1"
    assert channels.INBOUND_STREAM.dlq == "channels.inbound.v1.dlq"


def test_a_contract_is_its_name_on_the_wire():
    env = tenants.TENANT_CHANGED.envelope(
        tenants.TenantChanged(tenant_id=uuid.UUID(int=1), changed=["locale"]), idempotency_key="k", tenant_id=None
    )
    wire = orjson.loads(env.to_fields()["envelope"])
    assert env.to_fields()["type"] == wire["type"] == "tenants.changed.v1"
    assert wire["payload"] == {"tenant_id": str(uuid.UUID(int=1)), "changed": ["locale"]}


def test_a_contract_refuses_a_bad_payload():
    env = Envelope(type=chat.OUTBOUND_REPLY, idempotency_key="k", payload={"channel_id": "not-a-uuid"})
    with pytest.raises(InvalidPayload) as caught:
        chat.OUTBOUND_REPLY.parse(env)
    message = str(caught.value)
    assert message.startswith("chat.outbound.v1 payload refused:")
    assert "channel_id" in message and "recipient" in message  # every refused field is named
    assert isinstance(caught.value, PermanentError)  # a consumer dead-letters it at once


def test_a_producer_cannot_send_another_types_payload():
    with pytest.raises(TypeError, match="carries TypingHint"):
        chat.TYPING.dump(chat.OutboundReply(channel_id=uuid.uuid4(), recipient="r"))


def test_parse_gives_the_model():
    job = uuid.uuid4()
    env = Envelope(type=search.REINDEX_STEP, idempotency_key="k", payload={"job_id": str(job), "after": None})
    step = search.REINDEX_STEP.parse(env)
    assert isinstance(step, search.ReindexStep) and step.job_id == job and step.after is None


async def _noop(envelope, payload, session) -> None:
    return None


def test_a_consumer_reads_the_stream_its_handlers_types_travel_on():
    ConsumerSpec(stream=chat.OUTBOUND_STREAM, handler=TransactionalHandler((chat.OUTBOUND_REPLY, chat.TYPING), _noop))
    with pytest.raises(ValueError, match=r"travel on \['tenants.changed.v1'\], not search.index.v1"):
        ConsumerSpec(stream=search.INDEX_STREAM, handler=TransactionalHandler(tenants.TENANT_CHANGED, _noop))
