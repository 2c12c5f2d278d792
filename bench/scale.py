"""Synthetic scale test: 10k, 100k and 1M chunks, exact (IndexFlatIP) and approximate (IndexHNSWFlat) FAISS.

Embedding a million chunks is out of the time budget on 2 cores, so the corpus is synthetic, built from real
material (documented in bench/README.md):

* pool: every paragraph of ../shared/squad2/dev_public.json goes through cstoqa's own ingest, sentence split,
  chunking and spaCy annotation, and every sentence is encoded with the real model (a niced child process does
  this preparation and is not timed);
* a synthetic chunk is a run of 3–6 consecutive pool sentences in which each sentence is swapped for a random
  pool sentence with probability 0.3; its text (for BM25) is those sentences joined, under the title of its
  first sentence's article;
* its vector is the normalised mean of its sentences' real embeddings plus Gaussian noise of norm about 0.3 (so
  no two chunks are identical): a "normalised noisy combination" of real embeddings, consistent with its text;
* queries are real SQuAD questions, encoded live with the real model at question time.

Per size: build time and RSS growth of the flat and HNSW FAISS indexes (``cstoqa.index.dense.build``, HNSW forced
with ``approximate_above = N - 1``), of BM25 (``cstoqa.index.lexical.build``) and of the chunk table; then per
question: query encoding (the floor), dense search (flat and HNSW), BM25, fusion (``retrieval.retrieve`` with its
searches stubbed to the hits just computed) and answer extraction (``answer_question``, on an IndexData assembled
in memory whose sentence table is the annotated pool), and the recall@10 and @candidates of HNSW against exact.
Each stage is also timed with the proposed source changes (bench/_prototypes.py: FAISS search on one OpenMP
thread, bm25s without a thread pool, the faster answerer), question by question beside the current code, and
a float16 exact index (IndexScalarQuantizer QT_fp16: half the memory traffic of IndexFlatIP) is measured with
its recall against IndexFlatIP.

Usage: python bench/scale.py [--sizes 10000,100000,1000000] [--queries 200] [--faiss-only-1m] [--budget-min 25]
At 1M chunks BM25, the chunk table and answer extraction are measured when their build, projected from the
previous size, fits in half the time left of the budget; otherwise (or with --faiss-only-1m) only the FAISS
indexes are, and the result says so ("full": false). An HNSW build projected to overrun is skipped likewise.
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
    stubbed_searches,
    summary,
    verdict,
    wait_for_quiet,
    write_results,
)
from _prototypes import (
    bm25_without_thread_pool,
    cached_words,
    faiss_single_thread_search,
    new_words_cache,
)

SEED = 20020514
NOISE_NORM = 0.3
SWAP = 0.3
TARGET_AT_100K = 2.0
EF_SWEEP = (48, 96, 192, 384, 768)


# ---------------------------------------------------------------- preparation (niced child, not timed)


def prepare(out: Path, max_questions: int) -> None:
    """Pool of annotated SQuAD sentences with real embeddings, and answerable SQuAD questions."""
    from cstoqa.annotate import annotate
    from cstoqa.chunking import chunk_document
    from cstoqa.embedding import SentenceTransformerEmbedder
    from cstoqa.evaluation.datasets import load_squad
    from cstoqa.ingest import iter_sources, load_document
    from cstoqa.settings import Settings

    settings = Settings()
    corpus = out / "corpus"
    items = load_squad(SQUAD, corpus)
    documents, sentences = {}, []
    for source in iter_sources(corpus, settings, []):
        doc = load_document(source, settings)
        _, doc_sentences = chunk_document(doc, settings.chunk_words, settings.overlap_sentences)
        sentences += annotate([(doc, doc_sentences)])[0]
        documents[doc.doc_id] = doc
    embedder = SentenceTransformerEmbedder(settings.model_name)
    sentence_vectors = embedder.encode([s.text for s in sentences])
    rng = np.random.default_rng(SEED)
    answerable = [i for i in items if i.answers]
    picked = [
        answerable[i] for i in sorted(rng.choice(len(answerable), min(max_questions, len(answerable)), replace=False))
    ]
    questions = [{"question": i.question, "answers": i.answers} for i in picked]
    with (out / "pool.pkl").open("wb") as fh:
        pickle.dump({"documents": documents, "sentences": sentences, "questions": questions}, fh)
    np.save(out / "sentence_vectors.npy", sentence_vectors)


# ---------------------------------------------------------------- synthetic corpus


SENTENCES_PER_CHUNK = 3  # SQuAD dev: 1,334 sentences in 427 chunks; the CSTO article 154 in 41


def synthetic_rows(n: int, pool_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(ids, lengths): each row lists up to 6 pool sentence ids; only the first ``length`` count."""
    lengths = rng.integers(3, 7, size=n)
    starts = rng.integers(0, pool_size - 6, size=n)
    ids = starts[:, None] + np.arange(6)[None, :]
    swap = rng.random((n, 6)) < SWAP
    ids = np.where(swap, rng.integers(0, pool_size, size=(n, 6)), ids)
    return ids.astype(np.int32), lengths.astype(np.int32)


def synthetic_vectors(
    ids: np.ndarray, lengths: np.ndarray, pool_vectors: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    n, dim = len(ids), pool_vectors.shape[1]
    out = np.empty((n, dim), dtype=np.float32)
    mask = (np.arange(6)[None, :] < lengths[:, None]).astype(np.float32)
    block = 20_000
    for a in range(0, n, block):
        b = min(n, a + block)
        summed = np.einsum("rk,rkd->rd", mask[a:b], pool_vectors[ids[a:b]])
        mean = summed / lengths[a:b, None]
        mean /= np.linalg.norm(mean, axis=1, keepdims=True)
        noise = rng.standard_normal((b - a, dim)).astype(np.float32) * (NOISE_NORM / np.sqrt(dim))
        v = mean + noise
        out[a:b] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def synthetic_texts(
    ids: np.ndarray, lengths: np.ndarray, sentences: list[Any], documents: dict[str, Any]
) -> list[tuple[str, str, list[int]]]:
    """(section title, text, sentence ids) per chunk."""
    texts = [s.text for s in sentences]
    titles = [documents[s.doc_id].title for s in sentences]
    out = []
    for row, length in zip(ids.tolist(), lengths.tolist(), strict=True):
        chosen = row[:length]
        out.append((titles[chosen[0]], " ".join(texts[j] for j in chosen), chosen))
    return out


def make_chunks(rows: list[tuple[str, str, list[int]]]) -> list[Any]:
    from cstoqa.types import Chunk

    return [
        Chunk(
            chunk_id=f"synthetic-{i:07d}",
            doc_id=f"synthetic/{i // 10:06d}.md",
            title=title,
            section=title,
            start=0,
            end=len(text),
            text=text,
            sentence_ids=chosen,
        )
        for i, (title, text, chosen) in enumerate(rows)
    ]


# ---------------------------------------------------------------- measurement


def timed_searches(
    index: Any, vector: np.ndarray, k: int, key: str, stages: dict[str, list[float]], mismatches: dict[str, int]
) -> list[tuple[int, float]]:
    """Search as shipped (``key``) and forced onto one FAISS thread (``key``_1thread); count differing hit lists."""
    from cstoqa.index import dense

    t = time.perf_counter()
    hits = dense.search(index, vector, k)
    stages[key].append((time.perf_counter() - t) * 1000)
    with faiss_single_thread_search():
        t = time.perf_counter()
        single = dense.search(index, vector, k)
        stages[f"{key}_1thread"].append((time.perf_counter() - t) * 1000)
    mismatches[key] += [r for r, _ in single] != [r for r, _ in hits]
    return hits


def timed(fn: Any, *args: Any) -> tuple[Any, float, float]:
    """(result, seconds, RSS growth in MB while the result is alive)."""
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - started
    return result, round(seconds, 3), round(rss_mb() - before, 1)


def build_fp16(vectors: np.ndarray) -> Any:
    """Proposed for src/cstoqa/index/dense.py: exact inner product over float16 copies of the vectors."""
    import faiss

    index = faiss.IndexScalarQuantizer(vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)  # no-op for fp16 (no ranges to learn)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def faiss_bytes(index: Any) -> float:
    import faiss

    return round(len(faiss.serialize_index(index)) / 2**20, 1)


def bm25_bytes(retriever: Any) -> float:
    if retriever is None:
        return 0.0
    arrays = [v for v in retriever.scores.values() if isinstance(v, np.ndarray)]
    return round(sum(a.nbytes for a in arrays) / 2**20, 1)


def recall(approx: list[list[int]], exact: list[list[int]], k: int) -> float:
    values = [len(set(a[:k]) & set(e[:k])) / max(1, min(k, len(e))) for a, e in zip(approx, exact, strict=True)]
    return round(float(np.mean(values)), 4)


def measure_size(
    n: int,
    pool: dict[str, Any],
    pool_vectors: np.ndarray,
    questions: list[str],
    model: Any,
    full: bool,
    hnsw_skip_reason: str | None = None,
) -> dict[str, Any]:
    from cstoqa.answer.answerer import answer_question
    from cstoqa.chunking import embedding_text
    from cstoqa.index import dense, lexical
    from cstoqa.index.store import IndexData
    from cstoqa.retrieval import retrieve, sentence_ranking
    from cstoqa.settings import Settings

    settings = Settings()
    k_read = max(settings.top_k, settings.reader_passages)
    rng = np.random.default_rng(SEED + n)
    result: dict[str, Any] = {"chunks": n, "full": full}
    log(f"{n:,} chunks: generating vectors{' and texts' if full else ''}")
    ids, lengths = synthetic_rows(n, len(pool["sentences"]), rng)
    vectors = synthetic_vectors(ids, lengths, pool_vectors, rng)
    result["vectors_mb"] = round(vectors.nbytes / 2**20, 1)

    chunks: list[Any] = []
    bm25, idf = None, {}
    if full:
        rows = synthetic_texts(ids, lengths, pool["sentences"], pool["documents"])
        chunks, result["chunk_table_build_s"], result["chunk_table_rss_growth_mb"] = timed(make_chunks, rows)
        del rows
        texts = [embedding_text(c) for c in chunks]
        result["mean_words_per_chunk"] = round(float(np.mean([len(t.split()) for t in texts[:5000]])), 1)
        log(f"{n:,} chunks: BM25 build")
        (bm25, idf), result["bm25_build_s"], result["bm25_rss_growth_mb"] = timed(lexical.build, texts)
        result["bm25_arrays_mb"] = bm25_bytes(bm25)
        result["bm25_vocabulary"] = len(idf)
        del texts
    del ids, lengths

    # Exact index: build, then every question with all stages.
    log(f"{n:,} chunks: FAISS flat build")
    flat, result["flat_build_s"], result["flat_rss_growth_mb"] = timed(dense.build, vectors, n + 1)
    result["flat_index_mb"] = faiss_bytes(flat)
    assert dense.kind(flat) == "flat"
    # Sentence index as the shipped builder makes it (HNSW above settings.approximate_above rows), over
    # SENTENCES_PER_CHUNK noisy copies of pool sentences per chunk; a hit on row r votes for chunk r // 3.
    m = SENTENCES_PER_CHUNK * n
    log(f"{n:,} chunks: sentence index over {m:,} synthetic sentence vectors")
    sentence_rows = synthetic_vectors(
        rng.integers(0, len(pool_vectors), size=(m, 6)), np.ones(m, dtype=np.int64), pool_vectors, rng
    )
    sentence_index, result["sentence_index_build_s"], _ = timed(dense.build, sentence_rows, settings.approximate_above)
    result["sentence_index"] = {"rows": m, "kind": dense.kind(sentence_index)}
    del sentence_rows
    data = IndexData(
        manifest={},
        documents=pool["documents"],
        chunks=chunks,
        sentences=pool["sentences"],
        chunk_vectors=vectors,
        sentence_vectors=pool_vectors,
        dense_index=flat,
        sentence_index=sentence_index,
        bm25=bm25,
        idf=idf,
    )
    data.sentence_chunk = (np.arange(m) // SENTENCES_PER_CHUNK).tolist()
    stages: dict[str, list[float]] = {
        k: []
        for k in (
            "floor",
            "dense_flat",
            "dense_flat_1thread",
            "dense_fp16_1thread",
            "dense_hnsw",
            "dense_hnsw_1thread",
            "bm25",
            "bm25_inline",
            "sentences",
            "fusion",
            "answer",
            "answer_proposed",
        )
    }
    mismatches = {"dense_flat": 0, "dense_hnsw": 0, "bm25": 0, "answer": 0}
    exact_hits: list[list[int]] = []
    query_vectors: list[np.ndarray] = []
    words_cache = new_words_cache()
    wait_for_quiet(f"{n:,} chunks: flat queries", max_wait=30)
    for q in questions:
        t = time.perf_counter()
        vector = model.encode([q], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
        stages["floor"].append((time.perf_counter() - t) * 1000)
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        query_vectors.append(vector)
        dense_hits = timed_searches(flat, vector, settings.candidates, "dense_flat", stages, mismatches)
        exact_hits.append([row for row, _ in dense_hits])
        if not full:
            continue
        t = time.perf_counter()
        lexical_hits = lexical.search(bm25, n, q, settings.candidates)
        stages["bm25"].append((time.perf_counter() - t) * 1000)
        with bm25_without_thread_pool():
            t = time.perf_counter()
            inline = lexical.search(bm25, n, q, settings.candidates)
            stages["bm25_inline"].append((time.perf_counter() - t) * 1000)
        mismatches["bm25"] += inline != lexical_hits
        t = time.perf_counter()
        sentence_rows = sentence_ranking(data, vector, settings)
        stages["sentences"].append((time.perf_counter() - t) * 1000)
        with stubbed_searches(dense_hits, lexical_hits, sentence_rows):
            t = time.perf_counter()
            passages = retrieve(data, q, vector, settings, k_read)
            stages["fusion"].append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        before = answer_question(q, vector, passages, data, settings)
        stages["answer"].append((time.perf_counter() - t) * 1000)
        with cached_words(words_cache):
            t = time.perf_counter()
            after = answer_question(q, vector, passages, data, settings)
            stages["answer_proposed"].append((time.perf_counter() - t) * 1000)
        mismatches["answer"] += (before.text, before.confidence) != (after.text, after.confidence)
    del flat, data
    gc.collect()

    # Proposed middle ground: exact search over float16 vectors (half the memory traffic of IndexFlatIP).
    log(f"{n:,} chunks: FAISS float16 (IndexScalarQuantizer QT_fp16) build")
    fp16, result["fp16_build_s"], result["fp16_rss_growth_mb"] = timed(build_fp16, vectors)
    result["fp16_index_mb"] = faiss_bytes(fp16)
    fp16_hits: list[list[int]] = []
    with faiss_single_thread_search():
        for vector in query_vectors:
            t = time.perf_counter()
            hits = dense.search(fp16, vector, settings.candidates)
            stages["dense_fp16_1thread"].append((time.perf_counter() - t) * 1000)
            fp16_hits.append([row for row, _ in hits])
    result["fp16_recall@10"] = recall(fp16_hits, exact_hits, 10)
    result[f"fp16_recall@{settings.candidates}"] = recall(fp16_hits, exact_hits, settings.candidates)
    del fp16
    gc.collect()

    # Approximate index: build as cstoqa does above approximate_above, then the same question vectors.
    if hnsw_skip_reason:
        result["hnsw_skipped"] = hnsw_skip_reason
        log(f"{n:,} chunks: HNSW skipped: {hnsw_skip_reason}")
    else:
        log(f"{n:,} chunks: FAISS HNSW build")
        hnsw, result["hnsw_build_s"], result["hnsw_rss_growth_mb"] = timed(dense.build, vectors, n - 1)
        result["hnsw_index_mb"] = faiss_bytes(hnsw)
        assert dense.kind(hnsw) == "hnsw"
        approx_hits: list[list[int]] = []
        wait_for_quiet(f"{n:,} chunks: HNSW queries", max_wait=30)
        for vector in query_vectors:
            hits = timed_searches(hnsw, vector, settings.candidates, "dense_hnsw", stages, mismatches)
            approx_hits.append([row for row, _ in hits])
        result["hnsw_recall@10"] = recall(approx_hits, exact_hits, 10)
        result[f"hnsw_recall@{settings.candidates}"] = recall(approx_hits, exact_hits, settings.candidates)
        # How recall and latency trade off with efSearch (cstoqa uses dense.HNSW_EF_SEARCH), same index.
        sweep = []
        with faiss_single_thread_search():
            for ef in EF_SWEEP:
                hnsw.hnsw.efSearch = ef
                times, hits_ef = [], []
                for vector in query_vectors:
                    t = time.perf_counter()
                    hits = dense.search(hnsw, vector, settings.candidates)
                    times.append((time.perf_counter() - t) * 1000)
                    hits_ef.append([row for row, _ in hits])
                sweep.append(
                    {
                        "efSearch": ef,
                        "p50_ms": summary(times)["p50"],
                        "recall@10": recall(hits_ef, exact_hits, 10),
                        f"recall@{settings.candidates}": recall(hits_ef, exact_hits, settings.candidates),
                    }
                )
        hnsw.hnsw.efSearch = dense.HNSW_EF_SEARCH
        result["hnsw_efsearch_sweep_1thread"] = sweep
    result["proposed_vs_current_result_mismatches"] = mismatches
    del hnsw, vectors, chunks, bm25, idf
    gc.collect()

    s = {k: summary(v) for k, v in stages.items() if v}
    result["query_ms"] = s
    floor = s["floor"]["p50"]
    if full:
        current = s["sentences"]["p50"] + s["bm25"]["p50"] + s["fusion"]["p50"] + s["answer"]["p50"]
        proposed = s["sentences"]["p50"] + s["bm25_inline"]["p50"] + s["fusion"]["p50"] + s["answer_proposed"]["p50"]
        for kind in ("flat", "hnsw"):
            if f"dense_{kind}" not in s:
                continue
            total = floor + s[f"dense_{kind}"]["p50"] + current
            total_proposed = floor + s[f"dense_{kind}_1thread"]["p50"] + proposed
            result[f"p50_total_ms_{kind}"] = round(total, 3)
            result[f"ratio_p50_total_to_floor_{kind}"] = round(total / floor, 3)
            result[f"p50_total_ms_{kind}_proposed"] = round(total_proposed, 3)
            result[f"ratio_p50_total_to_floor_{kind}_proposed"] = round(total_proposed / floor, 3)
        if "dense_fp16_1thread" in s:
            total = floor + s["dense_fp16_1thread"]["p50"] + proposed
            result["p50_total_ms_fp16_proposed"] = round(total, 3)
            result["ratio_p50_total_to_floor_fp16_proposed"] = round(total / floor, 3)
    return result


def target_block(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The 100k target, judged on the index cstoqa would build at that size (Settings().approximate_above)."""
    from cstoqa.settings import Settings

    at = next((r for r in results if r["chunks"] == 100_000 and r["full"]), None)
    if at is None:
        return {"warm_p50_over_floor_at_100k": TARGET_AT_100K, "verdict": "not measured"}
    above = Settings().approximate_above
    kind = "hnsw" if above < 100_000 and "ratio_p50_total_to_floor_hnsw" in at else "flat"
    value = at[f"ratio_p50_total_to_floor_{kind}"]
    return {
        "warm_p50_over_floor_at_100k": TARGET_AT_100K,
        "approximate_above": above,
        "index_used_at_100k": kind,
        "value": value,
        "verdict": verdict(value, TARGET_AT_100K),
        "value_flat": at["ratio_p50_total_to_floor_flat"],
        "value_hnsw": at.get("ratio_p50_total_to_floor_hnsw"),
        "value_flat_with_proposed_changes": at.get("ratio_p50_total_to_floor_flat_proposed"),
        "value_fp16_with_proposed_changes": at.get("ratio_p50_total_to_floor_fp16_proposed"),
        "value_hnsw_with_proposed_changes": at.get("ratio_p50_total_to_floor_hnsw_proposed"),
        "hnsw_recall@10": at.get("hnsw_recall@10"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200, help="questions timed per size")
    parser.add_argument(
        "--faiss-only-1m", action="store_true", help="at 1M chunks measure FAISS only (no BM25, chunk table, answers)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads for query encoding")
    parser.add_argument(
        "--budget-min", type=float, default=25, help="skip an HNSW build projected to overrun this many minutes"
    )
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, args.queries)
        return
    sizes = [int(x) for x in args.sizes.split(",")]
    if not SQUAD.is_file():
        write_results("scale", {"skipped": f"{SQUAD} not found", "machine": machine_info()})
        return

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-scale-") as tmp:
        log("preparing the sentence pool (niced child: ingest, chunking, spaCy, real embeddings)")
        prep = check(
            run_child([PYTHON, __file__, "--prepare", tmp, "--queries", str(args.queries)], nice=10), "preparation"
        )
        with (Path(tmp) / "pool.pkl").open("rb") as fh:
            pool = pickle.load(fh)
        pool_vectors = np.load(Path(tmp) / "sentence_vectors.npy")

    import faiss
    import torch

    from cstoqa.embedding import SentenceTransformerEmbedder

    torch.set_num_threads(args.threads)
    model = SentenceTransformerEmbedder()._load()
    questions = [q["question"] for q in pool["questions"]]
    for q in questions[:20]:
        model.encode([q])
    quiet = wait_for_quiet("scale")
    rss_base = rss_mb()
    results = []
    for n in sizes:
        full = n < 1_000_000 or not args.faiss_only_1m
        last_full = next((r for r in reversed(results) if "bm25_build_s" in r), None)
        if full and n >= 1_000_000 and last_full:
            # BM25 and the chunk table grow about linearly; fall back to FAISS only when they would overrun.
            projected_full = (
                (last_full["bm25_build_s"] + last_full["chunk_table_build_s"]) * n / last_full["chunks"] * 1.5
            )
            left = args.budget_min * 60 - (time.perf_counter() - started)
            if projected_full > left / 2:
                full = False
                log(
                    f"{n:,} chunks: FAISS only (BM25 + chunk table projected {projected_full:.0f} s, {left:.0f} s left)"
                )
        skip = None
        previous = next((r for r in reversed(results) if "hnsw_build_s" in r), None)
        if previous:
            projected = previous["hnsw_build_s"] * n / previous["chunks"] * 1.3
            left = args.budget_min * 60 - (time.perf_counter() - started)
            if projected > left:
                skip = f"projected build {projected:.0f} s > {left:.0f} s left of the {args.budget_min}-minute budget"
        results.append(measure_size(n, pool, pool_vectors, questions, model, full, skip))
        log(f"{n:,} chunks done; {time.perf_counter() - started:.0f} s so far")

    growth: dict[str, Any] = {}
    if len(results) > 1:
        first = results[0]
        for r in results[1:]:
            factor = r["chunks"] / first["chunks"]
            key = f"{first['chunks']}->{r['chunks']} (x{factor:g})"
            growth[key] = {}
            for metric in (
                "flat_build_s",
                "hnsw_build_s",
                "bm25_build_s",
                "flat_index_mb",
                "hnsw_index_mb",
                "bm25_arrays_mb",
            ):
                if metric in r and metric in first and first[metric]:
                    growth[key][metric] = round(r[metric] / first[metric], 2)
            for stage in r["query_ms"]:
                if stage in first["query_ms"]:
                    growth[key][f"{stage}_p50"] = round(
                        r["query_ms"][stage]["p50"] / first["query_ms"][stage]["p50"], 2
                    )
    payload = {
        "machine": machine_info(),
        "quiet_check": quiet,
        "method": {
            "pool_sentences": len(pool["sentences"]),
            "pool_documents": len(pool["documents"]),
            "questions": len(questions),
            "chunk": f"3-6 consecutive pool sentences, each swapped for a random one with p={SWAP}",
            "vector": f"normalise(normalised mean of its sentences' real vectors + Gaussian noise, norm {NOISE_NORM})",
            "torch_threads_for_query_encoding": args.threads,
            "faiss_omp_threads": faiss.omp_get_max_threads(),
            "hnsw": "cstoqa.index.dense: M=32, efConstruction=80, efSearch=96",
            "preparation_child_s": round(prep["seconds"], 1),
        },
        "rss_mb_before_sizes": rss_base,
        "sizes": results,
        "growth_relative_to_smallest": growth,
        "total_runtime_s": round(time.perf_counter() - started, 1),
        "target": target_block(results),
    }
    write_results("scale", payload)


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
