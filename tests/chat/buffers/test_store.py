"""The Redis buffer: windows, max wait, atomic claims across replicas, leases, acks."""

import asyncio
import uuid

from services.chat.buffers.store import BufferStore, buffer_key


def _key():
    return buffer_key(uuid.uuid4(), uuid.uuid4())


async def test_window_restarts_and_max_wait_caps(redis):
    store = BufferStore(redis)
    key = _key()
    t0 = 1000.0
    _, due = await store.add(key, {"text": "oi"}, window=3, max_wait=10, meta={"thread_id": "t"}, now=t0)
    assert due == t0 + 3
    _, due = await store.add(key, {"text": "quero pizza"}, window=3, max_wait=10, meta={}, now=t0 + 2)
    assert due == t0 + 5  # restarted
    for i in range(5):
        _, due = await store.add(key, {"text": f"m{i}"}, window=3, max_wait=10, meta={}, now=t0 + 4 + i)
    assert due == t0 + 10  # capped at first + max_wait
    assert await store.claim_due(now=t0 + 9.9) == []
    [claim] = await store.claim_due(now=t0 + 10)
    assert [i["text"] for i in claim.items] == ["oi", "quero pizza", "m0", "m1", "m2", "m3", "m4"]
    assert claim.meta["thread_id"] == "t"
    assert await store.ack(claim) == 0
    assert await store.get(key) is None


async def test_two_replicas_never_claim_the_same_burst(redis):
    a, b = BufferStore(redis), BufferStore(redis)
    keys = [_key() for _ in range(30)]
    for k in keys:
        await a.add(k, {"text": "x"}, window=0, max_wait=0, meta={}, now=1.0)
    got = await asyncio.gather(*[(a if i % 2 else b).claim_due(limit=7, now=2.0) for i in range(10)])
    claimed = [c.key for batch in got for c in batch]
    assert sorted(claimed) == sorted(keys)  # every burst once, none twice


async def test_lease_expiry_hands_burst_to_another_flusher(redis):
    store = BufferStore(redis, lease_seconds=0.2)
    key = _key()
    await store.add(key, {"text": "oi"}, window=0, max_wait=0, meta={})
    [first] = await store.claim_due()
    assert await store.claim_due() == []  # leased
    await asyncio.sleep(0.35)  # the first flusher died
    [second] = await store.claim_due()
    assert second.key == key and second.items == first.items
    assert await store.ack(first) == -1  # the dead one's late ack changes nothing
    assert await store.ack(second) == 0


async def test_items_arriving_during_flush_stay_for_the_next(redis):
    store = BufferStore(redis)
    key = _key()
    await store.add(key, {"text": "a"}, window=0, max_wait=0, meta={})
    [claim] = await store.claim_due()
    await store.add(key, {"text": "b"}, window=0, max_wait=0, meta={})
    assert await store.ack(claim) == 1
    [nxt] = await store.claim_due()
    assert [i["text"] for i in nxt.items] == ["b"]


async def test_release_retries_later_and_flush_now(redis):
    store = BufferStore(redis)
    key = _key()
    await store.add(key, {"text": "a"}, window=60, max_wait=120, meta={})
    assert await store.claim_due() == []
    assert await store.flush_now(key)
    [claim] = await store.claim_due()
    assert await store.release(claim, retry_in=0)
    [again] = await store.claim_due()
    assert again.items == claim.items
    assert not await store.flush_now(_key())


async def test_list_is_per_tenant(redis):
    store = BufferStore(redis)
    t1, t2 = uuid.uuid4(), uuid.uuid4()
    k1 = buffer_key(t1, uuid.uuid4())
    await store.add(k1, {"text": "a"}, window=30, max_wait=60, meta={"channel": "telegram"})
    await store.add(buffer_key(t2, uuid.uuid4()), {"text": "b"}, window=30, max_wait=60, meta={})
    views = await store.list(t1)
    assert [v.key for v in views] == [k1] and views[0].meta["channel"] == "telegram"
