"""The folder store (FAISS + bm25s) beside Milvus Lite: same retrieval?, build, load and question latency by size.

* quality: the public SQuAD split as one corpus, indexed into each store with the real model; for every
  answerable question the passages retrieval returns with cstoqa's fusion on each store, and with Milvus' own
  ``hybrid_search`` (RRF, k = 60, over the chunk vector and BM25) — hit@1/@5 and MRR as ``cstoqa eval`` counts
  them (the first passage holding a gold answer), and how often the two stores' top 5 are identical;
* scale: synthetic tables of 10k and 100k chunks built as ``bench/scale.py`` builds them (real SQuAD sentences and
  vectors, resampled), saved into the folder store and into Milvus with a FLAT and with an HNSW index, loaded
  back, then the retrieval stage (the only stage that differs between stores) per question with real questions;
  build and load in seconds, retrieve p50/p95 in ms.

Usage: python bench/stores.py [--sizes 10000,100000] [--queries 200] [--skip-quality]
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import PYTHON, SQUAD, check, log, machine_info, run_child, summary, wait_for_quiet, write_results
from scale import SEED, SENTENCES_PER_CHUNK, bench_manifest, make_chunks, synthetic_ids, synthetic_vectors

STORES = ("folder", "milvus")


def spec(kind: str, folder: Path) -> str:
    return str(folder / "index") if kind == "folder" else f"milvus:{folder / 'milvus.db'}"


def milvus_rrf(data: Any, question: str, vector: np.ndarray, candidates: int, top: int) -> list[int]:
    """Milvus' hybrid search: its RRF ranker over the chunk vector and BM25 lists, k = 60 as ours."""
    from pymilvus import AnnSearchRequest, RRFRanker

    from cstoqa.index.milvus import bm25_terms

    searcher = data.searcher
    requests = [AnnSearchRequest([vector.tolist()], "vector", {"params": {}}, candidates)]
    terms = bm25_terms([question])[0]
    if terms:
        requests.append(AnnSearchRequest([terms], "sparse", {"params": {}}, candidates))
    hits = searcher.client.hybrid_search(
        searcher.chunks_collection, requests, RRFRanker(60), limit=top, output_fields=["row"]
    )
    return [int(hit["entity"]["row"]) for hit in hits[0]]


def quality(tmp: Path) -> dict[str, Any]:
    from cstoqa.assistant import Assistant
    from cstoqa.embedding import SentenceTransformerEmbedder
    from cstoqa.evaluation.datasets import load_squad
    from cstoqa.evaluation.metrics import first_hit_rank
    from cstoqa.retrieval import retrieve

    items = [i for i in load_squad(SQUAD, tmp / "corpus") if i.answers]
    assistants: dict[str, Any] = {}
    result: dict[str, Any] = {"questions": len(items)}
    embedder = SentenceTransformerEmbedder()
    for kind in STORES:
        started = time.perf_counter()
        assistants[kind] = Assistant.open(tmp / "corpus", spec(kind, tmp), embedder=embedder)
        result[f"{kind}_build_s"] = round(time.perf_counter() - started, 2)
    folder, milvus = assistants["folder"], assistants["milvus"]
    settings = folder.settings
    ranks: dict[str, list[int | None]] = {"folder": [], "milvus": [], "milvus_rrf": []}
    same_top5 = 0
    for item in items:
        vector = folder.embedder.encode([item.question])[0]
        lists = {
            kind: [p.chunk for p in retrieve(a.data, item.question, vector, settings, 5)]
            for kind, a in assistants.items()
        }
        rows = milvus_rrf(milvus.data, item.question, vector, settings.candidates, 5)
        lists["milvus_rrf"] = [milvus.data.chunks[r] for r in rows]
        same_top5 += [c.chunk_id for c in lists["folder"]] == [c.chunk_id for c in lists["milvus"]]
        for kind, chunks in lists.items():
            ranks[kind].append(first_hit_rank([c.text for c in chunks], item.answers))
    for kind, found in ranks.items():
        result[kind] = {
            "hit@1": round(float(np.mean([r == 1 for r in found])), 4),
            "hit@5": round(float(np.mean([r is not None and r <= 5 for r in found])), 4),
            "mrr": round(float(np.mean([1 / r if r else 0.0 for r in found])), 4),
        }
    result["identical_top5"] = round(same_top5 / len(items), 4)
    return result


def synthetic_tables(n: int, pool: dict[str, Any], pool_vectors: np.ndarray) -> Any:
    from cstoqa.index.manifest import Counts, DocumentEntry
    from cstoqa.index.store import IndexTables
    from cstoqa.settings import Settings

    settings = Settings()
    rng = np.random.default_rng(SEED + n)
    ids, lengths = synthetic_ids(n, len(pool_vectors), rng)
    vectors = synthetic_vectors(ids, lengths, pool_vectors, rng)
    chunks = make_chunks(ids, lengths, pool["sentences"], pool["documents"])
    own = ids[:, :SENTENCES_PER_CHUNK]
    sentences = [pool["sentences"][j] for j in own.reshape(-1).tolist()]
    sentence_vectors = synthetic_vectors(own.reshape(-1, 1), np.ones(len(sentences), np.int32), pool_vectors, rng)
    chunks = [c.model_copy(update={"sentence_ids": list(range(3 * i, 3 * i + 3))}) for i, c in enumerate(chunks)]
    documents = pool["documents"]
    entries = {d.doc_id: DocumentEntry(hash=d.content_hash, title=d.title, chunks=0) for d in documents.values()}
    counts = Counts(documents=len(documents), chunks=n, sentences=len(sentences))
    manifest = bench_manifest(settings, vectors.shape[1], counts, documents=entries)
    return IndexTables(manifest, documents, chunks, sentences, vectors, sentence_vectors)


def scale(tmp: Path, sizes: list[int], queries: int) -> list[dict[str, Any]]:
    """Per size: the folder store as shipped, and Milvus with an exact (FLAT) and an HNSW index, each built,
    loaded and asked the same questions; ``same_top5`` is the share of questions whose top 5 equals the folder's."""
    from cstoqa.embedding import SentenceTransformerEmbedder
    from cstoqa.index.stores import open_store
    from cstoqa.retrieval import retrieve
    from cstoqa.settings import Settings

    prepare = [PYTHON, str(Path(__file__).with_name("scale.py")), "--prepare", str(tmp), "--queries", str(queries)]
    check(run_child(prepare, nice=10), "preparation")
    with (tmp / "pool.pkl").open("rb") as fh:
        pool = pickle.load(fh)
    pool_vectors = np.load(tmp / "sentence_vectors.npy")
    settings, embedder = Settings(), SentenceTransformerEmbedder()
    questions = pool["questions"][:queries]
    vectors = embedder.encode(questions)
    rows = []
    for n in sizes:
        tables = synthetic_tables(n, pool, pool_vectors)
        reference: list[list[str]] = []
        variants = [("folder", settings.approximate_above), ("milvus", n), ("milvus", n - 1)]
        for kind, approximate_above in variants:
            folder = tmp / f"{kind}-{n}-{approximate_above}"
            folder.mkdir()
            store = open_store(spec(kind, folder))
            wait_for_quiet(f"{kind} {n:,}: build", max_wait=30)
            started = time.perf_counter()
            store.save(tables, approximate_above)
            built = time.perf_counter() - started
            label = f"{kind} {tables.manifest.dense_index}"
            started = time.perf_counter()
            data = open_store(spec(kind, folder)).load() if kind == "folder" else store.load()
            loaded = time.perf_counter() - started
            for q, v in zip(questions[:10], vectors[:10], strict=True):
                retrieve(data, q, v, settings, settings.top_k)
            wait_for_quiet(f"{label} {n:,}: questions", max_wait=30)
            times, tops = [], []
            for q, v in zip(questions, vectors, strict=True):
                started = time.perf_counter()
                passages = retrieve(data, q, v, settings, settings.top_k)
                times.append((time.perf_counter() - started) * 1000)
                tops.append([p.chunk.chunk_id for p in passages])
            reference = reference or tops
            same = float(np.mean([a == b for a, b in zip(tops, reference, strict=True)]))
            rows.append(
                {
                    "store": kind,
                    "dense_index": tables.manifest.dense_index,
                    "chunks": n,
                    "sentences": len(tables.sentences),
                    "build_s": round(built, 2),
                    "load_s": round(loaded, 2),
                    "retrieve_ms": summary(times),
                    "same_top5_as_folder": round(same, 4),
                }
            )
            p50 = rows[-1]["retrieve_ms"]["p50"]
            log(f"{label} {n:,}: build {built:.1f} s, load {loaded:.1f} s, retrieve p50 {p50} ms")
            del data, store
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"benchmark": "stores", "machine": machine_info()}
    with tempfile.TemporaryDirectory(prefix="cstoqa-stores-") as tmp:
        if not args.skip_quality:
            results["quality"] = quality(Path(tmp) / "quality")
            log(f"quality: {results['quality']}")
        results["scale"] = scale(Path(tmp), [int(s) for s in args.sizes.split(",")], args.queries)
    write_results("stores", results)


if __name__ == "__main__":
    main()
