"""SIGUSR1 task dump of a worker: where each asyncio task waits (shared/events/worker.py)."""

from __future__ import annotations

import asyncio

from shared.events.worker import await_chain, dump_tasks


async def _inner(gate: asyncio.Event) -> None:
    await gate.wait()


async def _outer(gate: asyncio.Event) -> None:
    await _inner(gate)


async def test_await_chain_names_every_coroutine_down_to_the_future(capsys) -> None:
    gate = asyncio.Event()
    task = asyncio.create_task(_outer(gate), name="stuck-one")
    await asyncio.sleep(0)
    chain = await_chain(task)
    names = [frame.rsplit(" ", 1)[-1] for frame in chain[:-1]]
    assert names[:3] == ["_outer", "_inner", "wait"], chain  # wait: asyncio.Event.wait
    assert "Future" in chain[-1], chain  # what the innermost coroutine awaits
    dump_tasks()
    err = capsys.readouterr().err
    assert "- stuck-one:" in err and "_inner" in err, err
    gate.set()
    await task
