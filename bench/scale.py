"""Synthetic scale test: index cost and per-question latency at 10k, 100k and 1M chunks.

Embedding a million chunks is out of the time budget on 2 cores, so the corpus is synthetic, built from real
material (documented in bench/README.md):

* pool: every paragraph of ../shared/squad2/dev_public.json goes through cstoqa's own ingest, sentence split and
  chunking, and every sentence is encoded with the real model (a niced child does this, untimed);
* a synthetic chunk is a run of 3–6 consecutive pool sentences in which each sentence is swapped for a random
  pool sentence with probability 0.3; its text is those sentences joined, under the title (and document) of its
  first sentence's article; its vector is the normalised mean of its sentences' real vectors plus Gaussian
  noise of norm about 0.3; the sentence index holds its first 3 sentences' vectors, with noise, each voting for it;
* queries are real SQuAD questions, encoded live with the real model.

Per size: build time and RSS growth of the chunk table, BM25 (``lexical.build``), the exact FAISS index and the
HNSW one (``dense.build`` forced each way) and the sentence index as the builder makes it. Then, question by
question on an ``Assistant`` over the synthetic ``IndexData`` (with the index cstoqa builds at that size): the
floor (``embedder.encode`` + one reader forward over the windows ask reads, one torch thread) and
``Assistant.ask(question, timings=t)`` (stages from the seam); the dense search alone on each index, and the
recall@10 and @candidates of HNSW against exact search.

Usage: python bench/scale.py [--sizes 10000,100000,1000000] [--queries 200] [--faiss-only-1m] [--budget-min 25]
At 1M chunks the chunk table, BM25, the sentence index and the questions through ask are measured only when
their cost, projected from the previous size, fits in half the time left of the budget and in the memory
available; otherwise (or with --faiss-only-1m) only the FAISS chunk indexes are ("full": false). An HNSW build
projected to overrun the budget is skipped and says so.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    PYTHON,
    SQUAD,
    check,
    log,
    machine_info,
    rss_mb,
    run_child,
    summary,
    verdict,
    wait_for_quiet,
    write_results,
)

SEED = 20020514
NOISE_NORM = 0.3
SWAP = 0.3
SENTENCES_PER_CHUNK = 3  # SQuAD dev: 1,334 sentences in 427 chunks
TARGET_AT_100K = 2.0
STAGES = ("encode", "retrieve", "read", "answer")


def prepare(out: Path, max_questions: int) -> None:
    """Pool of SQuAD sentences with real embeddings, and answerable SQuAD questions (run in a niced child)."""
    from cstoqa.chunking import chunk_document, sentence_embedding_text
    from cstoqa.embedding import SentenceTransformerEmbedder
    from cstoqa.evaluation.datasets import load_squad
    from cstoqa.ingest import iter_sources, load_document
    from cstoqa.settings import Settings

    settings = Settings()
    items = load_squad(SQUAD, out / "corpus")
    documents, sentences = {}, []
    for source in iter_sources(out / "corpus", settings, []):
        doc = load_document(source, settings)
        sentences += chunk_document(doc, settings.chunk_words, settings.overlap_sentences)[1]
        documents[doc.doc_id] = doc
    vectors = SentenceTransformerEmbedder().encode([sentence_embedding_text(s) for s in sentences])
    answerable = [i for i in items if i.answers]
    rng = np.random.default_rng(SEED)
    picked = sorted(rng.choice(len(answerable), min(max_questions, len(answerable)), replace=False))
    with (out / "pool.pkl").open("wb") as fh:
        pickle.dump(
            {"documents": documents, "sentences": sentences, "questions": [answerable[i].question for i in picked]}, fh
        )
    np.save(out / "sentence_vectors.npy", vectors)


def synthetic_vectors(ids: np.ndarray, lengths: np.ndarray, pool: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """normalise(normalised mean of the first ``length`` pool vectors of each row + Gaussian noise)."""
    n, dim = len(ids), pool.shape[1]
    out = np.empty((n, dim), dtype=np.float32)
    mask = (np.arange(ids.shape[1])[None, :] < lengths[:, None]).astype(np.float32)
    for a in range(0, n, 20_000):
        b = min(n, a + 20_000)
        mean = np.einsum("rk,rkd->rd", mask[a:b], pool[ids[a:b]]) / lengths[a:b, None]
        mean /= np.linalg.norm(mean, axis=1, keepdims=True)
        v = mean + rng.standard_normal((b - a, dim)).astype(np.float32) * (NOISE_NORM / np.sqrt(dim))
        out[a:b] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def synthetic_ids(n: int, pool_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 6 consecutive pool sentences, each swapped for a random one with probability ``SWAP``, and the
    number of them (3–6) each synthetic chunk keeps."""
    lengths = rng.integers(3, 7, size=n).astype(np.int32)
    ids = rng.integers(0, pool_size - 6, size=n)[:, None] + np.arange(6)[None, :]
    ids = np.where(rng.random((n, 6)) < SWAP, rng.integers(0, pool_size, size=(n, 6)), ids).astype(np.int32)
    return ids, lengths


def bench_manifest(settings: Any, dimension: int, counts: Any, dense_index: str = "", documents: Any = None) -> Any:
    from cstoqa.index.manifest import Manifest

    return Manifest(
        cstoqa_version="bench",
        model=settings.model_name,
        fingerprint=settings.build_fingerprint(),
        settings=settings.model_dump(),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        dense_index=dense_index,
        dimension=dimension,
        counts=counts,
        documents=documents or {},
    )


def make_chunks(ids: np.ndarray, lengths: np.ndarray, sentences: list[Any], documents: dict[str, Any]) -> list[Any]:
    from cstoqa.types import Chunk

    chunks = []
    for i, (row, length) in enumerate(zip(ids.tolist(), lengths.tolist(), strict=True)):
        chosen = row[:length]
        doc = documents[sentences[chosen[0]].doc_id]
        text = " ".join(sentences[j].text for j in chosen)
        chunks.append(
            Chunk(
                chunk_id=f"synthetic-{i:07d}",
                doc_id=doc.doc_id,
                title=doc.title,
                section=doc.title,
                start=0,
                end=len(text),
                text=text,
                sentence_ids=chosen,
            )
        )
    return chunks


def timed(fn: Any, *args: Any) -> tuple[Any, float, float]:
    """(result, seconds, RSS growth in MB while the result is alive)."""
    gc.collect()
    before, started = rss_mb(), time.perf_counter()
    result = fn(*args)
    return result, round(time.perf_counter() - started, 3), round(rss_mb() - before, 1)


def recall(approx: list[list[int]], exact: list[list[int]], k: int) -> float:
    return round(
        float(
            np.mean([len(set(a[:k]) & set(e[:k])) / max(1, min(k, len(e))) for a, e in zip(approx, exact, strict=True)])
        ),
        4,
    )


def measure_size(
    n: int, pool: dict[str, Any], pool_vectors: np.ndarray, tools: dict[str, Any], full: bool, hnsw_skip: str | None
) -> dict[str, Any]:
    import faiss
    import torch

    from cstoqa.assistant import Assistant, clean_question
    from cstoqa.chunking import embedding_text
    from cstoqa.index import dense, lexical
    from cstoqa.index.manifest import Counts
    from cstoqa.index.search import FaissSearcher
    from cstoqa.index.store import IndexData
    from cstoqa.reader.model import pad
    from cstoqa.reader.windows import make_windows
    from cstoqa.settings import Settings

    settings, embedder = Settings(), tools["embedder"]
    rng = np.random.default_rng(SEED + n)
    result: dict[str, Any] = {"chunks": n, "full": full}
    log(f"{n:,} chunks: vectors{', chunk table, BM25, sentence index' if full else ''}")
    ids, lengths = synthetic_ids(n, len(pool_vectors), rng)
    vectors = synthetic_vectors(ids, lengths, pool_vectors, rng)
    result["vectors_mb"] = round(vectors.nbytes / 2**20, 1)
    flat, result["flat_build_s"], result["flat_rss_growth_mb"] = timed(dense.build, vectors, n)
    hnsw = None
    if hnsw_skip:
        result["hnsw_skipped"] = hnsw_skip
    else:
        hnsw, result["hnsw_build_s"], result["hnsw_rss_growth_mb"] = timed(dense.build, vectors, n - 1)
    result["shipped_index"] = "hnsw" if n > settings.approximate_above and hnsw is not None else "flat"
    samples: dict[str, list[float]] = {k: [] for k in ("floor", "ask", *STAGES, "other", "dense_flat", "dense_hnsw")}
    exact_hits, approx_hits = [], []
    questions = tools["questions"]
    if full:
        chunks, result["chunk_table_build_s"], result["chunk_table_rss_growth_mb"] = timed(
            make_chunks, ids, lengths, pool["sentences"], pool["documents"]
        )
        bm25, result["bm25_build_s"], result["bm25_rss_growth_mb"] = timed(
            lexical.build, [embedding_text(c) for c in chunks]
        )
        m = SENTENCES_PER_CHUNK * n
        own = ids[:, :SENTENCES_PER_CHUNK].reshape(-1, 1)  # row 3i + j: chunk i's sentence j, with noise
        rows = synthetic_vectors(own, np.ones(m, dtype=np.int32), pool_vectors, rng)
        sentence_index, result["sentence_index_build_s"], result["sentence_index_rss_growth_mb"] = timed(
            dense.build, rows, settings.approximate_above
        )
        result["sentence_index"] = {"rows": m, "kind": dense.kind(sentence_index)}
        del rows
        data = IndexData(
            manifest=bench_manifest(
                settings,
                vectors.shape[1],
                Counts(documents=len(pool["documents"]), chunks=n, sentences=m),
                dense.kind(hnsw if result["shipped_index"] == "hnsw" else flat),
            ),
            documents=pool["documents"],
            chunks=chunks,
            sentences=pool["sentences"],
            chunk_vectors=vectors,
            sentence_vectors=pool_vectors,
            searcher=FaissSearcher(hnsw if result["shipped_index"] == "hnsw" else flat, sentence_index, bm25, n),
        )
        data.sentence_chunk = (np.arange(m) // SENTENCES_PER_CHUNK).tolist()
        assistant = Assistant(Path("synthetic"), Path("synthetic"), settings, embedder, data, tools["reader"])
        texts = [clean_question(q, settings.max_question_chars) for q in questions]
        top = max(settings.top_k, settings.reader_passages)
        windows = [
            make_windows(tools["tokenizer"], t, [p.text for p in assistant.search(t, top)[: settings.reader_passages]])
            for t in texts
        ]
        for t, w in list(zip(texts, windows, strict=True))[:10]:
            assistant.ask(t)
            if w:
                with torch.inference_mode():
                    tools["model"](**pad(w))
        wait_for_quiet(f"{n:,} chunks: questions", max_wait=30)
        log(f"{n:,} chunks: {len(texts)} questions, floor and ask")
        for t, w in zip(texts, windows, strict=True):
            torch.set_num_threads(1)
            started = time.perf_counter()
            embedder.encode([t])
            if w:
                with torch.inference_mode():
                    tools["model"](**pad(w))
            samples["floor"].append((time.perf_counter() - started) * 1000)
            timings: dict[str, float] = {}
            started = time.perf_counter()
            assistant.ask(t, timings=timings)
            samples["ask"].append((time.perf_counter() - started) * 1000)
            for stage in STAGES:
                samples[stage].append(timings[stage])
            samples["other"].append(samples["ask"][-1] - sum(timings[stage] for stage in STAGES))
        del assistant, data, chunks, bm25, sentence_index
    for q in questions:
        vector = embedder.encode([q])[0]
        for kind, index, hits in (("flat", flat, exact_hits), ("hnsw", hnsw, approx_hits)):
            if index is not None:
                started = time.perf_counter()
                hits.append([row for row, _ in dense.search(index, vector, settings.candidates)])
                samples[f"dense_{kind}"].append((time.perf_counter() - started) * 1000)
    result["flat_index_mb"] = round(len(faiss.serialize_index(flat)) / 2**20, 1)
    if hnsw is not None:
        result["hnsw_index_mb"] = round(len(faiss.serialize_index(hnsw)) / 2**20, 1)
        result["hnsw_recall@10"] = recall(approx_hits, exact_hits, 10)
        result[f"hnsw_recall@{settings.candidates}"] = recall(approx_hits, exact_hits, settings.candidates)
    result["query_ms"] = {k: summary(v) for k, v in samples.items() if v}
    if full:
        result["ratio_p50_ask_to_floor"] = round(
            result["query_ms"]["ask"]["p50"] / result["query_ms"]["floor"]["p50"], 3
        )
    del flat, hnsw, vectors
    gc.collect()
    return result


def available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable"):
            return int(line.split()[1]) / 1024
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200, help="questions timed per size")
    parser.add_argument("--faiss-only-1m", action="store_true", help="at 1M chunks measure the FAISS indexes only")
    parser.add_argument("--budget-min", type=float, default=25, help="time budget of the whole run, in minutes")
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, args.queries)
        return
    if not SQUAD.is_file():
        write_results("scale", {"skipped": f"{SQUAD} not found", "machine": machine_info()})
        return

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-scale-") as tmp:
        log("preparing the sentence pool (niced child: ingest, chunking, real embeddings)")
        prep = check(
            run_child([PYTHON, __file__, "--prepare", tmp, "--queries", str(args.queries)], nice=10), "preparation"
        )
        with (Path(tmp) / "pool.pkl").open("rb") as fh:
            pool = pickle.load(fh)
        pool_vectors = np.load(Path(tmp) / "sentence_vectors.npy")

    from cstoqa.embedding import SentenceTransformerEmbedder
    from cstoqa.reader.model import TransformerReader, load_model, load_tokenizer
    from cstoqa.settings import Settings

    tools = {
        "embedder": SentenceTransformerEmbedder(),
        "reader": TransformerReader(),
        "model": load_model(),
        "tokenizer": load_tokenizer(),
        "questions": pool["questions"],
    }
    quiet = wait_for_quiet("scale")
    rss_base = rss_mb()
    results: list[dict[str, Any]] = []
    for n in [int(x) for x in args.sizes.split(",")]:
        left = args.budget_min * 60 - (time.perf_counter() - started)
        full = n < 1_000_000 or not args.faiss_only_1m
        last = next((r for r in reversed(results) if "bm25_build_s" in r), None)
        if full and n >= 1_000_000 and last:  # these costs grow about linearly with the number of chunks
            factor = n / last["chunks"] * 1.5
            cost_s = sum(last[k] for k in ("chunk_table_build_s", "bm25_build_s", "sentence_index_build_s")) * factor
            growth_mb = ("chunk_table_rss_growth_mb", "bm25_rss_growth_mb", "sentence_index_rss_growth_mb")
            cost_mb = (sum(last[k] for k in growth_mb) + SENTENCES_PER_CHUNK * last["vectors_mb"]) * factor
            full = cost_s < left / 2 and cost_mb < available_mb() * 0.7
            log(f"{n:,} chunks: full: projected {cost_s:.0f} s, {cost_mb:.0f} MB: {'yes' if full else 'FAISS only'}")
        previous = next((r for r in reversed(results) if "hnsw_build_s" in r), None)
        projected = previous["hnsw_build_s"] * n / previous["chunks"] * 1.3 if previous else 0.0
        skip = f"projected build {projected:.0f} s > {left:.0f} s left of the budget" if projected > left else None
        results.append(measure_size(n, pool, pool_vectors, tools, full, skip))
        log(f"{n:,} chunks done; {time.perf_counter() - started:.0f} s so far")

    growth = {}
    first = results[0]
    for r in results[1:]:
        keys = [k for k in r if k.endswith(("_build_s", "_index_mb")) and first.get(k)]
        entry = {k: round(r[k] / first[k], 2) for k in keys}
        entry.update(
            {
                f"{s}_p50": round(r["query_ms"][s]["p50"] / first["query_ms"][s]["p50"], 2)
                for s in r["query_ms"]
                if s in first["query_ms"]
            }
        )
        growth[f"{first['chunks']}->{r['chunks']} (x{r['chunks'] / first['chunks']:g})"] = entry
    at = next((r for r in results if r["chunks"] == 100_000 and r["full"]), None)
    value = at["ratio_p50_ask_to_floor"] if at else None
    payload = {
        "machine": machine_info(),
        "quiet_check": quiet,
        "method": {
            "pool_sentences": len(pool["sentences"]),
            "pool_documents": len(pool["documents"]),
            "questions": len(pool["questions"]),
            "chunk": f"3-6 consecutive pool sentences, each swapped for a random one with p={SWAP}",
            "vector": f"normalise(normalised mean of its sentences' real vectors + Gaussian noise, norm {NOISE_NORM})",
            "floor": "embedder.encode([question]) + one reader forward over the windows ask reads, 1 torch thread",
            "approximate_above": Settings().approximate_above,
            "preparation_child_s": round(prep["seconds"], 1),
        },
        "rss_mb_before_sizes": rss_base,
        "sizes": results,
        "growth_relative_to_smallest": growth,
        "total_runtime_s": round(time.perf_counter() - started, 1),
        "target": {
            "warm_p50_over_floor_at_100k": TARGET_AT_100K,
            "index_used_at_100k": at["shipped_index"] if at else None,
            "value": value,
            "verdict": verdict(value, TARGET_AT_100K),
        },
    }
    write_results("scale", payload)


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
