"""Scoring speaker labels against generated dialogues: frame-level DER and turns labelled right (best mapping)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from tests.transcription.audio_gen import Turn

FRAME = 0.01  # seconds


def frames(spans: list[Turn], names: list[str], length: int) -> np.ndarray:
    """One speaker index per 10 ms frame (-1: nobody); a later span wins an overlap."""
    out = np.full(length, -1)
    for span in spans:
        out[round(span.start / FRAME) : round(span.end / FRAME)] = names.index(span.speaker)
    return out


@dataclass(frozen=True)
class DiarizationError:
    """Shares of the reference speech; `total` is the DER."""

    missed: float
    false_alarm: float
    confusion: float

    @property
    def total(self) -> float:
        return self.missed + self.false_alarm + self.confusion


def der_parts(reference: list[Turn], hypothesis: list[Turn]) -> DiarizationError:
    """(missed + false alarm + confusion) / reference speech, over 10 ms frames, no collar, best 1:1 mapping."""
    length = round(max(t.end for t in reference + hypothesis) / FRAME) + 1
    ref_names = sorted({t.speaker for t in reference})
    hyp_names = sorted({t.speaker for t in hypothesis})
    ref, hyp = frames(reference, ref_names, length), frames(hypothesis, hyp_names, length)
    overlap = np.zeros((len(ref_names), max(1, len(hyp_names))))
    both = (ref >= 0) & (hyp >= 0)
    np.add.at(overlap, (ref[both], hyp[both]), 1)
    rows, cols = linear_sum_assignment(-overlap)
    speech = max(1, int(np.sum(ref >= 0)))
    return DiarizationError(
        missed=float(np.sum((ref >= 0) & (hyp < 0)) / speech),
        false_alarm=float(np.sum((ref < 0) & (hyp >= 0)) / speech),
        confusion=float((both.sum() - overlap[rows, cols].sum()) / speech),
    )


def der(reference: list[Turn], hypothesis: list[Turn]) -> float:
    return der_parts(reference, hypothesis).total


def labelled_turns(segments: list[dict]) -> list[Turn]:
    return [Turn(s["start"], s["end"], s["speaker"]) for s in segments if s.get("speaker")]


def turns_right(reference: list[Turn], segments: list[dict]) -> float:
    """Share of reference turns whose majority label (by time overlap) is their voice's, under the best mapping."""
    hyp = labelled_turns(segments)
    ref_names = sorted({t.speaker for t in reference})
    hyp_names = sorted({t.speaker for t in hyp})
    if not hyp_names:
        return 0.0
    majority = []
    for turn in reference:
        time = {name: 0.0 for name in hyp_names}
        for h in hyp:
            time[h.speaker] += max(0.0, min(turn.end, h.end) - max(turn.start, h.start))
        majority.append(max(time, key=time.get))
    votes = np.zeros((len(ref_names), len(hyp_names)))
    for turn, label in zip(reference, majority, strict=True):
        votes[ref_names.index(turn.speaker), hyp_names.index(label)] += 1
    rows, cols = linear_sum_assignment(-votes)
    return float(votes[rows, cols].sum() / len(reference))
