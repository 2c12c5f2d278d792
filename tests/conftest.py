"""Fixtures: the fake models, the small corpus on disk, and an Assistant opener over them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cstoqa.assistant import Assistant
from cstoqa.settings import Settings
from support import SMALL_CORPUS, FakeEmbedder, FakeReader


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fake_reader() -> FakeReader:
    return FakeReader()


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in SMALL_CORPUS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def open_assistant(
    small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder, fake_reader: FakeReader
) -> Callable[..., Assistant]:
    """``open_assistant(**overrides)`` opens an Assistant over the small corpus with the fake models."""

    def _open(**overrides: object) -> Assistant:
        kwargs: dict[str, object] = {
            "corpus_dir": small_corpus,
            "index_dir": index_dir,
            "settings": settings,
            "embedder": fake_embedder,
            "reader": fake_reader,
        }
        kwargs.update(overrides)
        return Assistant.open(**kwargs)  # type: ignore[arg-type]

    return _open
