"""ops.logs: warnings and errors of every process (shared/logging.py), capped; plain fields, not an envelope."""

from __future__ import annotations

from shared.events.contract import Stream

OPS_STREAM = Stream("ops.logs")
