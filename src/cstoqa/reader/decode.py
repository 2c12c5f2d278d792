"""From start/end logits to the best span of a window: pure numpy, so it is tested without a model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True)
class WindowSpan:
    """The best span of one window: token positions, its score and the window's no-answer score."""

    start: int
    end: int
    score: float
    null_score: float

    @property
    def margin(self) -> float:
        """How much the span beats "no answer here": the reader's own answerability evidence."""
        return self.score - self.null_score


def best_span(
    start_logits: np.ndarray, end_logits: np.ndarray, context_mask: np.ndarray, max_tokens: int = MAX_ANSWER_TOKENS
) -> WindowSpan | None:
    """The (start, end) maximising start + end logits with start <= end < start + max_tokens, both on
    context tokens; the no-answer score is that of [CLS] at position 0 (the SQuAD 2.0 convention)."""
    positions = np.flatnonzero(context_mask)
    if positions.size == 0:
        return None
    starts = start_logits[positions]
    ends = end_logits[positions]
    scores = starts[:, None] + ends[None, :]
    gap = positions[None, :] - positions[:, None]
    scores = np.where((gap >= 0) & (gap < max_tokens), scores, -np.inf)
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return WindowSpan(
        start=int(positions[i]),
        end=int(positions[j]),
        score=float(scores[i, j]),
        null_score=float(start_logits[0] + end_logits[0]),
    )
