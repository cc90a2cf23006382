"""Speaker labels from the local engine: generated two- and three-voice dialogues through the API and the worker."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from docx import Document

from tests.transcription.audio_gen import Turn, convert, dialogue
from tests.transcription.speakers import der, labelled_turns, turns_right
from tests.transcription.test_local_engine import upload

# Three espeak-ng voices that differ as people do: a male and a female US voice, a British male one.
VOICES = ["en-us+m3", "en-us+f3", "en-gb-x-rp+m7"]
LINES = [
    "Hello, I am calling about the order I placed yesterday.",
    "Good afternoon, let me look up your order right now.",
    "Thank you, the order number is four five six seven.",
    "I found it, the pizza will arrive in twenty minutes.",
    "Could you also add a bottle of orange juice?",
    "Of course, the juice is added to your order.",
]


def recording(dst: Path, voices: int, turns: int) -> tuple[Path, list[Turn]]:
    wav, reference = dialogue([(VOICES[i % voices], LINES[i]) for i in range(turns)], dst.with_suffix(".wav"))
    return convert(wav, dst), reference


@pytest.fixture(scope="session")
def two_voices(audio_dir: Path) -> tuple[Path, list[Turn]]:
    return recording(audio_dir / "two.ogg", 2, 4)


@pytest.fixture(scope="session")
def two_voices_short(audio_dir: Path) -> tuple[Path, list[Turn]]:
    """Two turns of two voices: enough for the tests where no labels must appear (half the audio to transcribe)."""
    return recording(audio_dir / "two-short.ogg", 2, 2)


@pytest.fixture(scope="session")
def three_voices(audio_dir: Path) -> tuple[Path, list[Turn]]:
    return recording(audio_dir / "three.ogg", 3, 6)


async def transcribe(transcription_client, auth, runner, tenant, path: Path, **data) -> dict:
    job_id = await upload(transcription_client, auth, path, language="en", **data)
    await runner.run_job(tenant, job_id)
    job = (await transcription_client.get(f"/api/v1/transcriptions/{job_id}?words=true", headers=auth())).json()
    assert job["status"] == "completed", job
    return job


def assert_labelled_like(job: dict, reference: list[Turn], letters: str) -> None:
    segments = job["segments"]
    assert job["speakers_available"] is True and not job["notes"]
    assert all(s["speaker"] for s in segments), segments
    assert "".join(sorted({s["speaker"] for s in segments})) == letters, segments
    assert segments[0]["speaker"] == "A", "letters follow first appearance"
    assert all(w["speaker"] == s["speaker"] for s in segments for w in s["words"])
    right = turns_right(reference, segments)
    assert right >= 0.8, (right, [(s["start"], s["end"], s["speaker"], s["text"]) for s in segments], reference)
    assert der(reference, labelled_turns(segments)) < 0.35


async def test_two_voices_get_two_letters_in_the_api_and_every_export(
    transcription_client, auth, tenant, runner, two_voices
):
    path, reference = two_voices
    job = await transcribe(transcription_client, auth, runner, tenant, path, speakers_expected="2")
    assert_labelled_like(job, reference, "AB")
    base = f"/api/v1/transcriptions/{job['id']}/export"

    txt = (await transcription_client.get(f"{base}?format=txt", headers=auth())).text
    assert "] Speaker A: Hello" in txt and "] Speaker B: " in txt
    srt = (await transcription_client.get(f"{base}?format=srt", headers=auth())).text
    assert "\nSpeaker A: Hello" in srt and "\nSpeaker B: " in srt
    vtt = (await transcription_client.get(f"{base}?format=vtt", headers=auth())).text
    assert "<v Speaker A>Hello" in vtt and "<v Speaker B>" in vtt
    data = json.loads((await transcription_client.get(f"{base}?format=json", headers=auth())).text)
    assert [s["speaker"] for s in data["segments"]] == [s["speaker"] for s in job["segments"]]
    doc = Document(io.BytesIO((await transcription_client.get(f"{base}?format=docx", headers=auth())).content))
    bold = {r.text for p in doc.paragraphs for r in p.runs if r.bold}
    assert {"Speaker A: ", "Speaker B: "} <= bold


async def test_three_voices_keep_their_letters(transcription_client, auth, tenant, runner, three_voices):
    path, reference = three_voices
    job = await transcribe(transcription_client, auth, runner, tenant, path, speakers_expected="3")
    assert_labelled_like(job, reference, "ABC")


@pytest.mark.parametrize("speakers", [None, "1"])
async def test_no_labels_unless_two_or_more_speakers_are_asked(
    transcription_client, auth, tenant, runner, two_voices_short, speakers
):
    data = {} if speakers is None else {"speakers_expected": speakers}
    job = await transcribe(transcription_client, auth, runner, tenant, two_voices_short[0], **data)
    assert job["speakers_available"] is False
    assert job["segments"] and all(s["speaker"] is None for s in job["segments"])
    base = f"/api/v1/transcriptions/{job['id']}/export"
    assert "Speaker" not in (await transcription_client.get(f"{base}?format=txt", headers=auth())).text
    assert "<v " not in (await transcription_client.get(f"{base}?format=vtt", headers=auth())).text


async def test_diarization_switched_off_says_so(
    transcription_client, auth, tenant, make_runner, make_settings, two_voices_short
):
    runner = await make_runner(make_settings(local_diarization=False))
    job = await transcribe(transcription_client, auth, runner, tenant, two_voices_short[0], speakers_expected="2")
    assert job["speakers_available"] is False
    assert all(s["speaker"] is None for s in job["segments"])
    assert any("TRANSCRIPTION_LOCAL_DIARIZATION" in n for n in job["notes"])
