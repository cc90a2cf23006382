"""Indexing errors."""

from shared.errors import Conflict


class ReindexRunning(Conflict):
    code = "reindex_running"
    title = "A reindex is running"
