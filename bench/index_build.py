"""Index build throughput against the model's raw encode throughput, by stage; unchanged and one-file reindex.

Corpus: every paragraph of ../shared/squad2/dev_public.json written as a Markdown file (cstoqa's own SQuAD
loader) into a temporary folder. Skipped, with a note in the results, when the file is absent.

* full builds in this process with the model already loaded (as the raw encode excludes loading), split into
  stages: the seconds per stage that ``reindex`` records in its report (scan, read, chunk, embed, lexical,
  dense, save);
* raw encode: ``embedder.encode`` of all the built chunks' ``embedding_text`` in one call (and of the sentence
  texts, which a build embeds too); build chunks/s ÷ raw chunks/s is the target ratio. Raw encodes and builds
  alternate in rounds; medians are reported;
* ``cstoqa index --rebuild --json`` as a child from a cold start (wall time, peak RSS);
* unchanged reindex: ``cstoqa index --json`` as a child, repeated, and in a Python child that says whether torch
  was imported at all;
* one-file change: a sentence appended to one file, then reindex, in this process and as a ``cstoqa index`` child.

Usage: python bench/index_build.py [--repeats 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    CLI,
    PYTHON,
    SQUAD,
    check,
    log,
    machine_info,
    peak_rss_mb,
    rss_mb,
    run_child,
    verdict,
    wait_for_quiet,
    write_results,
)

TARGET_RATIO = 0.85
TARGET_UNCHANGED_S = 1.0


def build_in_process(corpus: Path, index: Path, embedder: Any, rebuild: bool) -> dict[str, Any]:
    from cstoqa.indexing import reindex
    from cstoqa.settings import Settings

    started = time.perf_counter()
    report, _ = reindex(corpus, index, Settings(), embedder, rebuild=rebuild)
    total = time.perf_counter() - started
    stages = dict(sorted(report.stages.items(), key=lambda kv: -kv[1]))
    stages["other"] = round(total - sum(report.stages.values()), 3)
    return {
        "seconds": round(total, 3),
        "chunks": report.total_chunks,
        "chunks_embedded": report.chunks_embedded,
        "sentences_embedded": report.sentences_embedded,
        "documents": report.total_documents,
        "stages_s": stages,
        "chunks_per_s": round(report.chunks_embedded / total, 2) if report.chunks_embedded else None,
    }


def raw_encode(embedder: Any, texts: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    embedder.encode(texts)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "per_s": round(len(texts) / seconds, 2)}


def cli_index(corpus: Path, index: Path, rebuild: bool = False) -> dict[str, Any]:
    cmd = [CLI, "index", "--corpus", str(corpus), "--index", str(index), "--json"] + (["--rebuild"] if rebuild else [])
    result = check(run_child(cmd), "cstoqa index")
    report = json.loads(result["stdout"])
    return {
        "process_wall_s": round(result["seconds"], 3),
        "report_seconds": report["seconds"],
        "model_loaded": report["model_loaded"],
        "chunks_embedded": report["chunks_embedded"],
        "peak_rss_mb": result["peak_rss_mb"],
    }


def torch_check_child(corpus: Path, index: Path) -> dict[str, Any]:
    """Unchanged reindex in a fresh interpreter: was torch (or sentence_transformers) imported at all?"""
    code = (
        "import sys, json\nfrom pathlib import Path\nfrom cstoqa.indexing import reindex\n"
        "from cstoqa.embedding import SentenceTransformerEmbedder\nfrom cstoqa.settings import Settings\n"
        f"r, _ = reindex(Path({str(corpus)!r}), Path({str(index)!r}), Settings(), SentenceTransformerEmbedder())\n"
        "print(json.dumps({'report_seconds': r.seconds, 'model_loaded': r.model_loaded,"
        " 'torch_imported': 'torch' in sys.modules,"
        " 'sentence_transformers_imported': 'sentence_transformers' in sys.modules}))\n"
    )
    result = check(run_child([PYTHON, "-c", code]), "unchanged reindex child")
    return {**json.loads(result["stdout"]), "process_wall_s": round(result["seconds"], 3)}


def edit_one_file(corpus: Path, n: int) -> None:
    path = sorted(corpus.rglob("*.md"))[0]
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"\nThis sentence was added by the benchmark, edit number {n}.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the unchanged reindex")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of raw encodes and full builds")
    args = parser.parse_args()
    if not SQUAD.is_file():
        write_results("index_build", {"skipped": f"{SQUAD} not found", "machine": machine_info()})
        return

    from cstoqa.chunking import embedding_text, sentence_embedding_text, split_sentences
    from cstoqa.embedding import SentenceTransformerEmbedder
    from cstoqa.evaluation.datasets import load_squad
    from cstoqa.index import store

    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-build-") as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        load_squad(SQUAD, corpus)
        files = sum(1 for _ in corpus.rglob("*.md"))
        rss_start = rss_mb()
        embedder = SentenceTransformerEmbedder()
        embedder.encode(["warm up"] * 8)  # loads the model: builds here compare with the raw encode, no loading
        warm = "Warm up. The sentencizer loads on first use."
        split_sentences(warm, 0, len(warm))
        rss_loaded = rss_mb()

        quiet = wait_for_quiet("index build")
        first = build_in_process(corpus, index, embedder, rebuild=True)
        data = store.load(index)
        chunk_texts = [embedding_text(c) for c in data.chunks]
        sentence_texts = [sentence_embedding_text(s) for s in data.sentences]
        raw: dict[str, list[dict[str, float]]] = {"chunks": [], "sentences": []}
        builds = []
        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds}: raw encodes, then a full build")
            raw["chunks"].append(raw_encode(embedder, chunk_texts))
            raw["sentences"].append(raw_encode(embedder, sentence_texts))
            builds.append(build_in_process(corpus, index, embedder, rebuild=True))
        rss_after_builds = peak_rss_mb()

        wait_for_quiet("cold CLI rebuild", max_wait=120)
        cold = cli_index(corpus, index, rebuild=True)
        wait_for_quiet("unchanged reindex", max_wait=120)
        unchanged = [cli_index(corpus, index) for _ in range(args.repeats)]
        torch_check = torch_check_child(corpus, index)
        log("one-file change")
        one_file_in_process, one_file_cli = [], []
        for n in range(3):
            edit_one_file(corpus, n)
            one_file_in_process.append(build_in_process(corpus, index, embedder, rebuild=False))
        for n in range(3, 6):
            edit_one_file(corpus, n)
            one_file_cli.append(cli_index(corpus, index))

    def med(values: Any) -> float:
        return round(statistics.median(values), 3)

    build = {
        "median_seconds": med(b["seconds"] for b in builds),
        "median_chunks_per_s": med(b["chunks_per_s"] for b in builds),
        "median_stages_s": {k: med(b["stages_s"].get(k, 0.0) for b in builds) for k in builds[0]["stages_s"]},
        "runs_seconds": [b["seconds"] for b in builds],
    }
    build["median_stage_share"] = {
        k: round(v / build["median_seconds"], 4) for k, v in build["median_stages_s"].items()
    }
    raw_median = {
        kind: {"median_seconds": med(x["seconds"] for x in runs), "median_per_s": med(x["per_s"] for x in runs)}
        for kind, runs in raw.items()
    }
    ratio = round(build["median_chunks_per_s"] / raw_median["chunks"]["median_per_s"], 3)
    raw_chunks_s, raw_sentences_s = raw_median["chunks"]["median_seconds"], raw_median["sentences"]["median_seconds"]
    unchanged_wall = med(r["process_wall_s"] for r in unchanged)
    model_loaded = any(r["model_loaded"] for r in unchanged)
    payload = {
        "machine": machine_info(),
        "quiet_check": quiet,
        "corpus": {
            "source": str(SQUAD),
            "files": files,
            "documents": first["documents"],
            "chunks": first["chunks"],
            "sentences": first["sentences_embedded"],
        },
        "rounds": args.rounds,
        "first_build": first,
        "full_build_model_loaded": build,
        "raw_encode": raw_median,
        "build_over_raw_chunk_throughput": ratio,
        "ceiling_if_everything_but_encoding_were_free": round(raw_chunks_s / (raw_chunks_s + raw_sentences_s), 3),
        "ceiling_note": "a build embeds the sentences too: raw chunk time ÷ (raw chunk time + raw sentence time)",
        "cold_cli_rebuild": cold,
        "unchanged_reindex": {
            "cli_runs": unchanged,
            "median_report_seconds": med(r["report_seconds"] for r in unchanged),
            "median_process_wall_s": unchanged_wall,
            "in_python_child": torch_check,
        },
        "one_file_change": {
            "in_process_model_loaded": one_file_in_process,
            "cli_cold": one_file_cli,
            "median_in_process_s": med(r["seconds"] for r in one_file_in_process),
            "median_cli_wall_s": med(r["process_wall_s"] for r in one_file_cli),
        },
        "rss_mb": {
            "bench_process_before_model": rss_start,
            "bench_process_model_loaded": rss_loaded,
            "bench_process_peak_after_builds": rss_after_builds,
            "cold_cli_rebuild_peak": cold["peak_rss_mb"],
            "unchanged_reindex_cli_peak": max(r["peak_rss_mb"] for r in unchanged),
            "one_file_change_cli_peak": max(r["peak_rss_mb"] for r in one_file_cli),
        },
        "targets": {
            "build_over_raw_encode": {
                "target": TARGET_RATIO,
                "value": ratio,
                "verdict": verdict(ratio, TARGET_RATIO, lower_is_better=False),
            },
            "unchanged_reindex_s": {
                "target": TARGET_UNCHANGED_S,
                "value_process_wall_s": unchanged_wall,
                "model_loaded": model_loaded,
                "torch_imported": torch_check["torch_imported"],
                "verdict": "not met" if model_loaded else verdict(unchanged_wall, TARGET_UNCHANGED_S),
            },
        },
    }
    write_results("index_build", payload)


if __name__ == "__main__":
    main()
