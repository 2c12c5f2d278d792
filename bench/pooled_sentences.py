"""Experiment: sentence vectors pooled from the chunk's own forward pass instead of a second encoding pass.

A build encodes every chunk and then every sentence again (index_build.json: the sentence pass is about as long
as the chunk pass), so build throughput can never pass ~0.5 × the raw chunk encode while it does both. One
forward pass over a chunk already yields a vector per token; mean-pooling the tokens of each sentence (and of
the whole chunk, which is exactly what the model's own mean pooling does) gives both kinds of vector from one
pass. This script measures, on the SQuAD dev corpus:

* time: current (encode chunks, then encode sentences) vs pooled (encode chunks once with token outputs, pool
  chunk and sentence vectors in NumPy), alternating in rounds, medians — and the build ratio this would give;
* fidelity: cosine between each pooled chunk vector and the model's own chunk vector (should be ~1), and
  between each pooled sentence vector and the sentence encoded alone;
* answer quality: cstoqa's own evaluation runner (evaluation.runner.run / summarize) on every SQuAD dev question
  and on eval/csto_qa.jsonl, with the index's sentence vectors as built vs replaced by pooled ones (retrieval is
  unchanged: only the answerer reads sentence vectors). F1 of the answer before the abstention threshold
  ("would answer") is threshold-free; the thresholded metrics use the current calibration, fitted on
  separately encoded sentences, so they are the pessimistic side for the pooled variant.

Usage: python bench/pooled_sentences.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    QUESTIONS,
    SQUAD,
    copy_corpus,
    log,
    machine_info,
    wait_for_quiet,
    write_results,
)


def token_offsets(tokenizer: Any, texts: list[str], max_length: int) -> list[np.ndarray]:
    enc = tokenizer(texts, return_offsets_mapping=True, truncation=True, max_length=max_length)
    return [np.asarray(o, dtype=np.int64) for o in enc["offset_mapping"]]


def pooled_vectors(model: Any, data: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(chunk vectors, sentence vectors, stats) from one token-level pass over the chunks' embedding texts."""
    from cstoqa.chunking import embedding_text

    texts = [embedding_text(c) for c in data.chunks]
    tokens = model.encode(
        texts, batch_size=batch_size, output_value="token_embeddings", convert_to_numpy=False, show_progress_bar=False
    )
    offsets = token_offsets(model.tokenizer, texts, model.max_seq_length)
    dim = data.sentence_vectors.shape[1]
    chunk_vectors = np.zeros((len(texts), dim), dtype=np.float32)
    sentence_vectors = np.zeros((len(data.sentences), dim), dtype=np.float32)
    done = np.zeros(len(data.sentences), dtype=bool)
    length_mismatch = 0
    for i, (chunk, emb, off) in enumerate(zip(data.chunks, tokens, offsets, strict=True)):
        emb = emb.float().numpy() if hasattr(emb, "numpy") else np.asarray(emb)
        if len(emb) != len(off):
            length_mismatch += 1
            n = min(len(emb), len(off))
            emb, off = emb[:n], off[:n]
        v = emb.mean(axis=0)
        chunk_vectors[i] = v / np.linalg.norm(v)
        base = len(chunk.section) + 1 - chunk.start  # chunk text starts after "section\n"
        real = off[:, 1] > off[:, 0]
        for sid in chunk.sentence_ids:
            if done[sid]:
                continue
            s = data.sentences[sid]
            lo, hi = s.start + base, s.end + base
            inside = real & (off[:, 0] >= lo) & (off[:, 1] <= hi)
            if inside.any():
                v = emb[inside].mean(axis=0)
                sentence_vectors[sid] = v / np.linalg.norm(v)
                done[sid] = True
    missing = np.flatnonzero(~done)
    if len(missing):  # sentences cut off by the 256-token limit: encode them on their own
        sentence_vectors[missing] = model.encode(
            [data.sentences[i].text for i in missing], batch_size=batch_size, normalize_embeddings=True
        )
    return (
        chunk_vectors,
        sentence_vectors,
        {"sentences_encoded_separately": len(missing), "length_mismatch": length_mismatch},
    )


def evaluate(assistant: Any, items: list[Any]) -> dict[str, Any]:
    from cstoqa.evaluation import runner
    from cstoqa.evaluation.metrics import f1_score

    preds = runner.run(assistant, items)
    metrics = runner.summarize(preds, assistant.settings.abstain_threshold)
    answerable = [p for p in preds if p.gold]
    return {
        "would_answer_f1_answerable": round(float(np.mean([f1_score(p.would_answer, p.gold) for p in answerable])), 4),
        "overall_f1": round(metrics["overall"]["f1"], 4),
        "overall_exact_match": round(metrics["overall"]["exact_match"], 4),
        "answerable_f1": round(metrics["answerable"]["f1"], 4),
        "unanswerable_abstained": round(metrics["unanswerable"]["abstained"], 4),
        "citation_accuracy": round(metrics["citation_accuracy"], 4),
        "hit@5": round(metrics["retrieval"]["hit@5"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not SQUAD.is_file():
        write_results("pooled_sentences", {"skipped": f"{SQUAD} not found", "machine": machine_info()})
        return

    from cstoqa.assistant import Assistant
    from cstoqa.chunking import embedding_text
    from cstoqa.evaluation.datasets import load_jsonl, load_squad

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-pooled-") as tmp:
        corpus, index = Path(tmp) / "squad", Path(tmp) / "squad-index"
        items = load_squad(SQUAD, corpus)
        log("building the SQuAD index")
        assistant = Assistant.open(corpus, index)
        data, embedder = assistant.data, assistant.embedder
        model = embedder._load()
        batch = embedder.batch_size
        chunk_texts = [embedding_text(c) for c in data.chunks]
        sentence_texts = [s.text for s in data.sentences]

        wait_for_quiet("pooled sentences")
        times: dict[str, list[float]] = {"current_two_passes": [], "pooled_one_pass": []}
        for r in range(args.rounds):
            log(f"timing round {r + 1}/{args.rounds}")
            t = time.perf_counter()
            model.encode(chunk_texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
            model.encode(sentence_texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
            times["current_two_passes"].append(time.perf_counter() - t)
            t = time.perf_counter()
            chunk_vectors, sentence_vectors, stats = pooled_vectors(model, data, batch)
            times["pooled_one_pass"].append(time.perf_counter() - t)
        med = {k: round(statistics.median(v), 3) for k, v in times.items()}
        results["timing_s"] = {"median": med, "runs": {k: [round(x, 3) for x in v] for k, v in times.items()}}
        results["pooling_stats"] = stats
        results["fidelity"] = {
            "chunk_cosine_pooled_vs_model": {
                "min": round(float((chunk_vectors * data.chunk_vectors).sum(1).min()), 5),
                "mean": round(float((chunk_vectors * data.chunk_vectors).sum(1).mean()), 5),
            },
            "sentence_cosine_pooled_vs_alone": {
                "p5": round(float(np.percentile((sentence_vectors * data.sentence_vectors).sum(1), 5)), 4),
                "median": round(float(np.median((sentence_vectors * data.sentence_vectors).sum(1))), 4),
            },
        }

        log("answer quality on SQuAD dev: sentence vectors as built vs pooled")
        pooled_data = dataclasses.replace(data, sentence_vectors=sentence_vectors)
        pooled = Assistant(corpus, index, assistant.settings, embedder, pooled_data)
        results["squad"] = {"as_built": evaluate(assistant, items), "pooled": evaluate(pooled, items)}

        log("answer quality on eval/csto_qa.jsonl")
        c_corpus, c_index = copy_corpus(Path(tmp) / "csto"), Path(tmp) / "csto-index"
        csto = Assistant.open(c_corpus, c_index, embedder=embedder)
        _, csto_sentences, _ = pooled_vectors(model, csto.data, batch)
        csto_pooled = Assistant(
            c_corpus, c_index, csto.settings, embedder, dataclasses.replace(csto.data, sentence_vectors=csto_sentences)
        )
        csto_items = load_jsonl(QUESTIONS)
        results["csto"] = {"as_built": evaluate(csto, csto_items), "pooled": evaluate(csto_pooled, csto_items)}

    results["chunks"], results["sentences"] = len(chunk_texts), len(sentence_texts)
    results["encode_time_saved_share"] = round(1 - med["pooled_one_pass"] / med["current_two_passes"], 3)
    write_results("pooled_sentences", {"machine": machine_info(), **results})


if __name__ == "__main__":
    main()
