"""The file store: uploaded audio on local disk under TRANSCRIPTION_STORAGE_DIR, keyed per tenant and job."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


class FileStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def temp_path(self) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp / f"{uuid.uuid4().hex}.part"

    @staticmethod
    def key_for(tenant_id: uuid.UUID, job_id: uuid.UUID, extension: str) -> str:
        return f"{tenant_id}/{job_id}.{extension}"

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError("storage key escapes the store")
        return path

    def put(self, temp: Path, key: str) -> Path:
        """Move a finished temp file into place (same filesystem: atomic rename)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)
        return target

    def delete(self, key: str | None) -> None:
        if key:
            self.path(key).unlink(missing_ok=True)
