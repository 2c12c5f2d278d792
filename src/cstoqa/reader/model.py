"""The trained reader: all-MiniLM-L6-v2 with a SQuAD 2.0 span head, loaded from the installed packages.

Only the tensors that training changed ship with cstoqa (``weights/reader.safetensors``, fp16); the frozen
word-embedding matrix is read from the embedding package, so the repository carries half the model.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cstoqa.embedding import bundled_model_path
from cstoqa.errors import CstoqaError
from cstoqa.reader.decode import best_span
from cstoqa.reader.windows import Window, make_windows
from cstoqa.types import Passage, ReadSpan

if TYPE_CHECKING:
    import torch

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = WEIGHTS_DIR / "reader.safetensors"
FROZEN = ("bert.embeddings.word_embeddings.weight",)
BATCH = 16


def load_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bundled_model_path())


def load_model(weights: Path | None = WEIGHTS_FILE) -> Any:
    """The base encoder with a span head; with ``weights``, the trained tensors laid over it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForQuestionAnswering
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # the span head is new in the base: no warning about it
    transformers_logging.disable_progress_bar()
    model = AutoModelForQuestionAnswering.from_pretrained(bundled_model_path())
    if weights is not None:
        if not weights.is_file():
            raise CstoqaError(f"the reader weights {weights} are missing; reinstall cstoqa or retrain the reader")
        from safetensors.torch import load_file

        try:
            trained = load_file(str(weights))
        except Exception as exc:
            raise CstoqaError(f"the reader weights {weights} are unreadable ({exc}); reinstall cstoqa") from exc
        missing, unexpected = model.load_state_dict({k: v.float() for k, v in trained.items()}, strict=False)
        if unexpected or set(missing) - set(FROZEN):
            raise CstoqaError(f"the reader weights {weights} do not fit the base model; retrain the reader")
    return model.eval()


def trained_tensors(model: Any) -> dict[str, torch.Tensor]:
    """What to ship: every tensor but the frozen ones, in fp16."""
    import torch

    return {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items() if k not in FROZEN}


def pad(windows: Sequence[Window]) -> dict[str, torch.Tensor]:
    import torch

    width = max(len(w.input_ids) for w in windows)
    ids = torch.zeros((len(windows), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, w in enumerate(windows):
        n = len(w.input_ids)
        ids[i, :n] = torch.tensor(w.input_ids)
        types[i, :n] = torch.tensor(w.token_type_ids)
        mask[i, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


@cache
def bf16_supported() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def precision() -> AbstractContextManager[Any]:
    """bf16 autocast where the CPU computes bf16 natively: 1.7x faster reads with 98 % the same best span and
    the same SQuAD F1 (bench/results/reader_speed.json); plain fp32 elsewhere, where bf16 is emulated and slow.
    ``CSTOQA_READER_PRECISION=fp32`` (or ``bf16``) overrides the choice."""
    import torch

    chosen = os.environ.get("CSTOQA_READER_PRECISION", "auto")
    if chosen not in ("auto", "fp32", "bf16"):
        raise CstoqaError(f"CSTOQA_READER_PRECISION must be auto, fp32 or bf16, got {chosen!r}")
    bf16 = chosen == "bf16" or (chosen == "auto" and bf16_supported())
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()


def logits(model: Any, windows: Sequence[Window], batch: int = BATCH) -> list[tuple[np.ndarray, np.ndarray]]:
    """Start and end logits of each window, cut to its own length."""
    import torch

    out: list[tuple[np.ndarray, np.ndarray]] = []
    with torch.inference_mode(), precision():
        for i in range(0, len(windows), batch):
            part = windows[i : i + batch]
            result = model(**pad(part))
            starts = result.start_logits.float().numpy()
            ends = result.end_logits.float().numpy()
            out += [(starts[k, : len(w.input_ids)], ends[k, : len(w.input_ids)]) for k, w in enumerate(part)]
    return out


def read_windows(
    model: Any, windows: Sequence[Window], batch: int = BATCH
) -> list[tuple[Window, int, int, float, float]]:
    """For each window with context: (window, char start, char end, span score, no-answer score)."""
    found = []
    for window, (start, end) in zip(windows, logits(model, windows, batch), strict=True):
        mask = np.array([o is not None for o in window.offsets])
        span = best_span(start, end, mask)
        if span is None:
            continue
        char_start = window.offsets[span.start][0]  # type: ignore[index]
        char_end = window.offsets[span.end][1]  # type: ignore[index]
        found.append((window, char_start, char_end, span.score, span.null_score))
    return found


class TransformerReader:
    """Reads each passage on one thread; the model loads on first use, as the embedder does."""

    name = "minilm-squad2"

    def __init__(self, weights: Path | None = WEIGHTS_FILE) -> None:
        self.weights = weights
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                self._tokenizer = load_tokenizer()
                self._model = load_model(self.weights)
            return self._model, self._tokenizer

    def read(self, question: str, passages: Sequence[Passage]) -> list[ReadSpan]:
        if not passages:
            return []
        model, tokenizer = self._load()
        import torch

        torch.set_num_threads(1)
        windows = make_windows(tokenizer, question, [p.text for p in passages])
        best: dict[int, ReadSpan] = {}
        for window, start, end, score, null in read_windows(model, windows, batch=len(windows)):
            passage = passages[window.context]
            if end <= start:
                continue
            span = ReadSpan.within(passage, window.context, start, end, score, null)
            held = best.get(window.context)
            if held is None or span.margin > held.margin:
                best[window.context] = span
        return [best[i] for i in sorted(best)]
