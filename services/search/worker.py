"""Stream consumers and the outbox relay of the search service: `python -m services.search.worker`.

search.index.v1: messages from chat, document processing/embedding steps and reindex steps (from this
service's own outbox); tenants.changed.v1: locale and secret changes. Also the per-tenant HNSW index
maintenance (indexing/vector_indexes/).
"""

from __future__ import annotations

import asyncio

from services.search.app import build_tenants
from services.search.base import Outbox, ProcessedEvent
from services.search.config import SearchSettings, get_settings
from services.search.embeddings.base import build_provider
from services.search.indexing.handlers import make_index_handler, make_tenants_handler
from services.search.indexing.vector_indexes.loop import maintain_forever
from shared.events.search import INDEX_STREAM
from shared.events.tenants import TENANTS_STREAM
from shared.events.worker import ConsumerSpec, run_worker
from shared.http import create_http_client


def consumer_specs(settings: SearchSettings, provider, tenants) -> list[ConsumerSpec]:
    return [
        ConsumerSpec(stream=INDEX_STREAM, handler=make_index_handler(provider, tenants, settings), batch=16),
        ConsumerSpec(stream=TENANTS_STREAM, handler=make_tenants_handler(tenants)),
    ]


async def run(settings: SearchSettings | None = None, stop: asyncio.Event | None = None) -> None:
    settings = settings or get_settings()
    http = create_http_client()
    try:
        tenants = build_tenants(settings, http)
        provider = build_provider(settings, lambda tid: tenants.secret(tid, "openai_api_key"))
        warm = getattr(provider, "warm", None)
        if warm is not None:
            await asyncio.to_thread(warm)  # load the model before taking work
        stop = stop or asyncio.Event()
        maintenance = asyncio.create_task(maintain_forever(settings, stop), name="tenant-vector-indexes")
        try:
            await run_worker(settings, Outbox, ProcessedEvent, consumer_specs(settings, provider, tenants), stop=stop)
        finally:
            stop.set()  # run_worker returns on its own signal handler too: end the maintenance loop with it
            maintenance.cancel()
            await asyncio.gather(maintenance, return_exceptions=True)
    finally:
        await http.aclose()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
