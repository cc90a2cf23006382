"""Chaos under load at CI size (tests/e2e/chaos.py): ~1,000 customer messages over 100 conversations through the
whole platform as separate processes, while workers, relays and API processes are SIGKILLed and restarted and Redis
(AOF) and Postgres are restarted once each. The full size is `make chaos`."""

from __future__ import annotations

import os

import pytest

from tests.e2e.chaos import ChaosConfig, run_chaos

pytestmark = pytest.mark.slow


async def test_chaos_under_load_loses_nothing_and_answers_once() -> None:
    cfg = ChaosConfig(
        messages=int(os.environ.get("CHAOS_MESSAGES", "1000")),
        conversations=int(os.environ.get("CHAOS_CONVERSATIONS", "100")),
        rate=float(os.environ.get("CHAOS_RATE", "15")),
        kills=int(os.environ.get("CHAOS_KILLS", "8")),
        seed=int(os.environ.get("CHAOS_SEED", "0")) or int.from_bytes(os.urandom(4), "big"),
        log_level=os.environ.get("CHAOS_LOG_LEVEL", "WARNING"),
    )
    report = await run_chaos(cfg)
    print(report.text())
    assert not report.problems, report.text()
    c = report.counts
    assert c["accepted"] == c["messages"] and c["lost"] == 0 and c["stored_twice"] == 0, report.text()
    assert c["conversations_answered"] == c["conversations"], report.text()
    assert c["duplicate_sends"] == 0 and c["answers_not_sent_unexplained"] == 0, report.text()
    assert not any(report.dlq.values()), report.text()
    # The faults really happened, and every one of them was recovered from.
    kinds = [f["fault"].split()[0] for f in report.faults]
    assert kinds.count("kill") == cfg.kills and "redis" in kinds and "postgres" in kinds, report.faults
    assert all(f["back_s"] is not None for f in report.faults if "killed again" not in f["fault"]), report.faults
