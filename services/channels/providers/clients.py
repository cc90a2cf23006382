"""Provider clients kept per credential set, so a reply does not pay for a new client, HTTP session and connection."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable


class ClientCache:
    """Provider clients by credentials. Past `max_clients` the least recently used one is dropped and closed
    `grace` seconds later (a send may still be using it: at most the send timeout)."""

    def __init__(self, make: Callable, close: Callable, *, grace: float, max_clients: int = 256) -> None:
        self.make = make
        self.close = close
        self.grace = grace
        self.max_clients = max_clients
        self._clients: OrderedDict[tuple[str, ...], object] = OrderedDict()
        self._retired: dict[asyncio.Task, object] = {}

    def get(self, *key: str):
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        client = self._clients[key] = self.make(*key)
        while len(self._clients) > self.max_clients:
            old = self._clients.popitem(last=False)[1]
            task = asyncio.create_task(self._close_later(old))
            self._retired[task] = old
            task.add_done_callback(self._retired.pop)
        return client

    async def _close_later(self, client) -> None:
        await asyncio.sleep(self.grace)
        await self.close(client)

    async def aclose(self) -> None:
        """Close every client, the retired ones included (at shutdown, when no send is running)."""
        for task, client in list(self._retired.items()):
            task.cancel()
            await self.close(client)
        while self._clients:
            await self.close(self._clients.popitem()[1])

    def __len__(self) -> int:
        return len(self._clients)
