"""Offline speaker labels for the local engine: resemblyzer's packaged voice encoder + agglomerative clustering.

Windows of 1.6 s (the encoder's training length) slide over the speech every STEP_SECONDS; each is embedded,
the embeddings are clustered into `speakers` groups, and every word takes the label of the windows covering it.
A Whisper segment whose words change speaker is split there. Letters follow first appearance (A, B, ...).
Only resemblyzer's weights file is used (`resemblyzer/pretrained.pt`): importing the package imports webrtcvad,
whose module needs pkg_resources (gone from setuptools 81+), so the same network and mel frames are built here.
"""

from __future__ import annotations

import importlib.util
import string
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.transcription.engines.base import EngineUnavailable, Segment, Word

SAMPLE_RATE = 16000
HOP = 160  # 10 ms mel frames
WINDOW_FRAMES = 160  # 1.6 s
STEP_SECONDS = 0.4
MAX_WINDOWS = 2000  # clustering is quadratic in windows: longer audio gets a longer step
PAUSE_SECONDS = 0.3  # windows never cross a pause this long: a turn change mostly comes with one
BATCH = 128
_encoder = None
_encoder_lock = threading.Lock()


@dataclass(frozen=True)
class Windows:
    starts: np.ndarray  # seconds
    ends: np.ndarray
    labels: np.ndarray  # cluster per window


def weights_path() -> Path:
    """The encoder weights shipped in resemblyzer's wheel, found without importing the package."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable("resemblyzer is not installed (the 'transcription' extra): no speaker labels")
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise EngineUnavailable(f"the voice encoder weights are missing: {path}")
    return path


def load_encoder():
    """One voice encoder per process (17 MB of weights, loaded in a fraction of a second)."""
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            import torch
            from torch import nn

            class VoiceEncoder(nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
                    self.linear = nn.Linear(256, 256)

                def forward(self, mels):
                    _, (hidden, _) = self.lstm(mels)
                    raw = torch.relu(self.linear(hidden[-1]))
                    return raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-9)

            encoder = VoiceEncoder()
            checkpoint = torch.load(weights_path(), map_location="cpu", weights_only=True)
            encoder.load_state_dict(checkpoint["model_state"], strict=False)
            _encoder = encoder.eval()
        return _encoder


def mel_frames(audio: np.ndarray) -> np.ndarray:
    """40-band mel power frames every 10 ms over 25 ms, as the encoder was trained on; volume set to -30 dBFS."""
    import librosa

    rms = float(np.sqrt(np.mean(np.square(audio)))) or 1e-9
    audio = audio * (10 ** (-30 / 20) / rms)
    mel = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, n_fft=400, hop_length=HOP, n_mels=40)
    return mel.astype(np.float32).T


def speech_spans(segments: list[Segment]) -> list[tuple[float, float]]:
    words = [(w.start, w.end) for s in segments for w in s.words]
    return words or [(s.start, s.end) for s in segments]


def regions(spans: list[tuple[float, float]], n_frames: int) -> list[tuple[int, int]]:
    """Speech stretches (in frames) between pauses of at least PAUSE_SECONDS."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] < PAUSE_SECONDS:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(int(a * 100), min(n_frames, int(np.ceil(b * 100)))) for a, b in merged if b > a]


def window_starts(first: int, last: int, step: int, n_frames: int) -> list[int]:
    """Windows inside [first, last); a stretch shorter than a window gets one centred on it."""
    if last - first <= WINDOW_FRAMES:
        return [max(0, min(n_frames - WINDOW_FRAMES, (first + last - WINDOW_FRAMES) // 2))]
    starts = list(range(first, last - WINDOW_FRAMES + 1, step))
    return starts if starts[-1] == last - WINDOW_FRAMES else [*starts, last - WINDOW_FRAMES]


def embed_windows(audio: np.ndarray, spans: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start s, end s, embedding) of the windows inside the speech stretches."""
    import torch

    mel = mel_frames(audio)
    duration = len(audio) / SAMPLE_RATE
    step = max(STEP_SECONDS, duration / MAX_WINDOWS)
    step_frames = max(1, round(step * SAMPLE_RATE / HOP))
    if len(mel) < WINDOW_FRAMES:
        mel = np.pad(mel, ((0, WINDOW_FRAMES - len(mel)), (0, 0)))
    kept = [f for a, b in regions(spans, len(mel)) for f in window_starts(a, b, step_frames, len(mel))]
    if not kept:
        return np.empty(0), np.empty(0), np.empty((0, 256))
    encoder = load_encoder()
    out = []
    with torch.inference_mode():
        for i in range(0, len(kept), BATCH):
            batch = np.stack([mel[f : f + WINDOW_FRAMES] for f in kept[i : i + BATCH]])
            out.append(encoder(torch.from_numpy(batch)).numpy())
    starts = np.array(kept) * HOP / SAMPLE_RATE
    return starts, starts + WINDOW_FRAMES * HOP / SAMPLE_RATE, np.concatenate(out)


def cluster(embeddings: np.ndarray, speakers: int) -> np.ndarray:
    """Average-linkage agglomerative clustering on cosine distance into exactly `speakers` groups."""
    from sklearn.cluster import AgglomerativeClustering

    if len(embeddings) <= speakers:
        return np.arange(len(embeddings))
    return AgglomerativeClustering(n_clusters=speakers, metric="cosine", linkage="average").fit_predict(embeddings)


def label_at(windows: Windows, start: float, end: float) -> int:
    """The cluster most windows covering the middle of [start, end] belong to (else the nearest window's)."""
    middle = (start + end) / 2
    covering = windows.labels[(windows.starts <= middle) & (windows.ends >= middle)]
    if len(covering):
        return Counter(covering.tolist()).most_common(1)[0][0]
    centers = (windows.starts + windows.ends) / 2
    return int(windows.labels[int(np.argmin(np.abs(centers - middle)))])


def diarize(audio: np.ndarray, segments: list[Segment], speakers: int) -> list[Segment]:
    """Segments with `speaker` set (split where the words change voice); unchanged when nothing can be embedded."""
    starts, ends, embeddings = embed_windows(audio, speech_spans(segments))
    if not len(embeddings):
        return segments
    windows = Windows(starts, ends, cluster(embeddings, speakers))
    pieces: list[tuple[int, Segment]] = []
    for seg in segments:
        if not seg.words:
            pieces.append((label_at(windows, seg.start, seg.end), seg))
            continue
        runs: list[tuple[int, list[Word]]] = []
        for word in seg.words:
            label = label_at(windows, word.start, word.end)
            if runs and runs[-1][0] == label:
                runs[-1][1].append(word)
            else:
                runs.append((label, [word]))
        if len(runs) == 1:
            pieces.append((runs[0][0], seg))
        else:
            pieces += [(label, _piece(words)) for label, words in runs]
    letters: dict[int, str] = {}
    for label, piece in pieces:
        letter = letters.setdefault(label, _letter(len(letters)))
        piece.speaker = letter
        for word in piece.words:
            word.speaker = letter
    return [piece for _, piece in pieces]


def _piece(words: list[Word]) -> Segment:
    return Segment(
        start=words[0].start, end=words[-1].end, text="".join(w.word for w in words).strip(), words=list(words)
    )


def _letter(index: int) -> str:
    """A..Z, then AA, AB, ..."""
    letters = string.ascii_uppercase
    return letters[index] if index < 26 else letters[index // 26 - 1] + letters[index % 26]
