"""Question + context token windows, shared by training and reading so that both see the same inputs.

A context longer than one window is read in overlapping windows (``stride`` tokens shared), as in the
SQuAD recipe of Devlin et al. (2019); each window keeps the character offsets of its context tokens, so a
predicted token span maps back to the exact characters of the context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 256
STRIDE = 96
MAX_QUESTION_TOKENS = 64


@dataclass(frozen=True)
class Window:
    """One model input: ``context`` is the index of the context it came from in the batch given."""

    context: int
    input_ids: list[int]
    token_type_ids: list[int]
    offsets: list[tuple[int, int] | None]
    """Character offsets into the context for context tokens; None for question and special tokens."""


def make_windows(
    tokenizer: Any,
    question: str | Sequence[str],
    contexts: Sequence[str],
    max_length: int = MAX_LENGTH,
    stride: int = STRIDE,
) -> list[Window]:
    """Windows of every context, read with one question or with one question per context."""
    if not contexts:
        return []
    questions = [question] * len(contexts) if isinstance(question, str) else list(question)
    questions = [_clip_question(tokenizer, q) for q in questions]
    encoded = tokenizer(
        questions,
        list(contexts),
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    windows = []
    for i, ids in enumerate(encoded["input_ids"]):
        sequence_ids = encoded.sequence_ids(i)
        offsets = [
            (int(o[0]), int(o[1])) if sid == 1 else None
            for o, sid in zip(encoded["offset_mapping"][i], sequence_ids, strict=True)
        ]
        windows.append(
            Window(
                context=int(encoded["overflow_to_sample_mapping"][i]),
                input_ids=list(ids),
                token_type_ids=list(encoded["token_type_ids"][i]),
                offsets=offsets,
            )
        )
    return windows


def _clip_question(tokenizer: Any, question: str) -> str:
    """A question longer than MAX_QUESTION_TOKENS keeps its start: the window must leave room for context."""
    tokens = tokenizer.tokenize(question)
    if len(tokens) <= MAX_QUESTION_TOKENS:
        return question
    return str(tokenizer.convert_tokens_to_string(tokens[:MAX_QUESTION_TOKENS]))


def token_span(window: Window, start_char: int, end_char: int) -> tuple[int, int]:
    """Token positions of the answer characters [start_char, end_char) in the window, or (0, 0) (the
    no-answer position, [CLS]) when the window does not hold the whole answer."""
    context = [t for t, o in enumerate(window.offsets) if o is not None]
    if not context:
        return 0, 0
    offsets = window.offsets
    first, last = context[0], context[-1]
    if offsets[first][0] > start_char or offsets[last][1] < end_char:  # type: ignore[index]
        return 0, 0
    while first < last and offsets[first][1] <= start_char:  # type: ignore[index]
        first += 1
    while last > first and offsets[last][0] >= end_char:  # type: ignore[index]
        last -= 1
    return first, last
