"""Index build throughput against the model's raw encode throughput, by stage; unchanged and one-file reindex.

Corpus: every paragraph of ../shared/squad2/dev_public.json written as a Markdown file (cstoqa's own SQuAD
loader) into a temporary folder — about 6x the CSTO corpus. Skipped, with a note in the results, when the file
is absent. Nothing from it is written inside the repository.

Measured:
* full builds in this process with the model already loaded (so they compare with the raw encode, which also
  excludes loading), split into stages by wrapping the functions cstoqa.index.builder calls;
* raw encode throughput of the same model on the same chunk texts (``embedding_text`` of the built chunks), one
  ``SentenceTransformer.encode`` call; build chunks/s ÷ raw chunks/s is the target ratio. The raw encode of the
  sentence texts is measured too, since a build embeds those as well;
* raw encodes and builds (current code at each torch thread count, and the proposed length-sorted encoding)
  alternate in rounds, so a change of machine load hits all alike; medians over the rounds are reported;
* ``cstoqa index --rebuild --json`` as a child process from a cold start (wall time and peak RSS);
* unchanged reindex: ``cstoqa index --json`` as a child, repeated — the report's own seconds, the process wall
  time, ``model_loaded``, and (in a separate Python child) whether torch was imported at all;
* one-file change: a sentence appended to one file, then reindex — in this process with the model loaded (by
  stage) and as a ``cstoqa index`` child from a cold start;
* the proposed build change (bench/_prototypes.py style, here: length-sorted encoding) measured the same way.

Usage: python bench/index_build.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from _common import (
    CLI,
    PYTHON,
    SQUAD,
    check,
    forced_torch_threads,
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


class StageTimer:
    """Wrap module attributes so that every call adds its wall time to a named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._restore: list[tuple[Any, str, Any]] = []

    def wrap(self, module: Any, attr: str, stage: str | Callable[..., str]) -> None:
        real = getattr(module, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            name = stage(*args, **kwargs) if callable(stage) else stage
            started = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

        setattr(module, attr, timed)
        self._restore.append((module, attr, real))

    def restore(self) -> None:
        for module, attr, real in reversed(self._restore):
            setattr(module, attr, real)
        self._restore.clear()


@contextmanager
def timed_stages() -> Iterator[StageTimer]:
    from cstoqa.index import builder, dense, lexical, store

    timer = StageTimer()
    timer.wrap(builder, "scan", "scan (walk, read, hash)")
    timer.wrap(builder, "load_document", "ingest (parse, sections)")
    timer.wrap(builder, "chunk_document", "sentence split + chunk")
    timer.wrap(builder, "annotate", "spaCy annotation")
    timer.wrap(builder, "_encode", lambda embedder, texts, label: label)  # "embedding chunks" / "... sentences"
    timer.wrap(lexical, "build", "BM25 (tokenize, index, idf)")
    timer.wrap(dense, "build", "FAISS")
    timer.wrap(store, "save", "save (write, checksum, fsync, swap)")
    timer.wrap(store, "load", "load previous index")
    try:
        yield timer
    finally:
        timer.restore()


@contextmanager
def length_sorted_encode() -> Iterator[None]:
    """Proposed change to src/cstoqa/index/builder.py, _encode(): encode the texts in order of length (and put
    the rows back in the original order), so every 256-text slice — and every 64-text model batch in it — holds
    texts of similar length and the model pads less. Same vectors, same order.

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ... encode [texts[i] for i in order] in slices as now ...
        out = np.empty_like(stacked); out[order] = stacked
    """
    import numpy as np
    from tqdm import tqdm

    from cstoqa.index import builder

    real = builder._encode

    def _encode(embedder: Any, texts: list[str], label: str) -> np.ndarray:
        batch = 256
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        ordered = [texts[i] for i in order]
        parts = [
            embedder.encode(ordered[i : i + batch])
            for i in tqdm(range(0, len(ordered), batch), desc=label, unit="batch", disable=None, leave=False)
        ]
        if not parts:
            return np.zeros((0, 0), dtype=np.float32)
        stacked = np.vstack(parts)
        out = np.empty_like(stacked)
        out[np.asarray(order)] = stacked
        return out

    builder._encode = _encode  # type: ignore[assignment]
    try:
        yield
    finally:
        builder._encode = real  # type: ignore[assignment]


def build_in_process(corpus: Path, index: Path, embedder: Any, rebuild: bool) -> dict[str, Any]:
    from cstoqa.index import builder
    from cstoqa.settings import Settings

    with timed_stages() as timer:
        started = time.perf_counter()
        report, _ = builder.reindex(corpus, index, Settings(), embedder, rebuild=rebuild)
        total = time.perf_counter() - started
    stages = {k: round(v, 3) for k, v in sorted(timer.seconds.items(), key=lambda kv: -kv[1])}
    stages["other"] = round(total - sum(timer.seconds.values()), 3)
    return {
        "seconds": round(total, 3),
        "report_seconds": report.seconds,
        "chunks": report.total_chunks,
        "chunks_embedded": report.chunks_embedded,
        "sentences_embedded": report.sentences_embedded,
        "documents": report.total_documents,
        "stages_s": stages,
        "stage_share": {k: round(v / total, 4) for k, v in stages.items()},
        "chunks_per_s": round(report.chunks_embedded / total, 2) if report.chunks_embedded else None,
    }


def raw_throughput(model: Any, texts: list[str], batch_size: int) -> dict[str, float]:
    started = time.perf_counter()
    model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    seconds = time.perf_counter() - started
    return {"texts": len(texts), "seconds": round(seconds, 3), "per_s": round(len(texts) / seconds, 2)}


def torch_check_child(corpus: Path, index: Path) -> dict[str, Any]:
    """Unchanged reindex in a fresh interpreter: was torch (or sentence_transformers) imported at all?"""
    code = (
        "import sys, json, time; t=time.perf_counter()\n"
        "from pathlib import Path\n"
        "from cstoqa.index.builder import reindex\n"
        "from cstoqa.embedding import SentenceTransformerEmbedder\n"
        "from cstoqa.settings import Settings\n"
        "s=Settings(); e=SentenceTransformerEmbedder(s.model_name)\n"
        f"r,_=reindex(Path({str(corpus)!r}), Path({str(index)!r}), s, e)\n"
        "print(json.dumps({'seconds_in_process': round(time.perf_counter()-t, 3), 'report_seconds': r.seconds,"
        " 'model_loaded': r.model_loaded, 'torch_imported': 'torch' in sys.modules,"
        " 'sentence_transformers_imported': 'sentence_transformers' in sys.modules,"
        " 'spacy_imported': 'spacy' in sys.modules, 'faiss_imported': 'faiss' in sys.modules}))\n"
    )
    result = check(run_child([PYTHON, "-c", code]), "unchanged reindex child")
    return {
        **json.loads(result["stdout"]),
        "process_wall_s": round(result["seconds"], 3),
        "peak_rss_mb": result["peak_rss_mb"],
    }


def cli_index(corpus: Path, index: Path, rebuild: bool = False) -> dict[str, Any]:
    cmd = [CLI, "index", "--corpus", str(corpus), "--index", str(index), "--json"] + (["--rebuild"] if rebuild else [])
    result = check(run_child(cmd), "cstoqa index")
    report = json.loads(result["stdout"])
    return {
        "process_wall_s": round(result["seconds"], 3),
        "report_seconds": report["seconds"],
        "model_loaded": report["model_loaded"],
        "chunks_embedded": report["chunks_embedded"],
        "changed": report["changed"],
        "peak_rss_mb": result["peak_rss_mb"],
    }


def edit_one_file(corpus: Path, n: int) -> str:
    path = sorted(corpus.rglob("*.md"))[0]
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"\nThis sentence was added by the benchmark, edit number {n}.\n")
    return path.relative_to(corpus).as_posix()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the unchanged reindex")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of raw encodes and full builds")
    parser.add_argument("--threads", default="1,2", help="torch thread counts for raw encodes and builds")
    parser.add_argument("--articles", help="comma-separated SQuAD article indices, for a quick trial (default: all)")
    args = parser.parse_args()
    thread_counts = [int(x) for x in args.threads.split(",")]
    if not SQUAD.is_file():
        write_results("index_build", {"skipped": f"{SQUAD} not found", "machine": machine_info()})
        return

    from cstoqa.evaluation.datasets import load_squad

    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-build-") as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        load_squad(SQUAD, corpus, {int(a) for a in args.articles.split(",")} if args.articles else None)
        files = sum(1 for _ in corpus.rglob("*.md"))
        corpus_bytes = sum(p.stat().st_size for p in corpus.rglob("*.md"))

        import torch

        from cstoqa.chunking import embedding_text
        from cstoqa.embedding import SentenceTransformerEmbedder
        from cstoqa.index import store
        from cstoqa.settings import Settings

        default_threads = torch.get_num_threads()
        rss_start = rss_mb()
        embedder = SentenceTransformerEmbedder(Settings().model_name)
        started = time.perf_counter()
        model = embedder._load()
        model_load_s = time.perf_counter() - started
        model.encode(["warm up"] * 8)
        # spaCy and the sentencizer load lazily on first use; load them here so the build times the work, not
        # the loading (the cold CLI build below includes everything).
        from cstoqa.annotate import _pipeline
        from cstoqa.chunking import _sentencizer

        started = time.perf_counter()
        _pipeline()
        _sentencizer()
        spacy_load_s = time.perf_counter() - started
        rss_loaded = rss_mb()

        quiet = wait_for_quiet("index build")
        log(f"first full build of {files} files in this process (model loaded, torch threads {default_threads})")
        first_build = build_in_process(corpus, index, embedder, rebuild=True)
        rss_after_build = peak_rss_mb()
        data = store.load(index)
        chunk_texts = [embedding_text(c) for c in data.chunks]
        sentence_texts = [s.text for s in data.sentences]

        # Rounds: raw encodes and builds alternate, so a change of machine load hits every variant alike.
        # "shipped" leaves the embedder's own thread policy alone; a number forces that many torch threads.
        variants = [("current", "shipped", False), ("length_sorted", "shipped", True)]
        variants += [("current", str(n), False) for n in thread_counts]
        raw_runs: dict[str, dict[str, list[dict[str, float]]]] = {
            str(n): {"chunks": [], "sentences": []} for n in thread_counts
        }
        build_runs: dict[str, list[dict[str, Any]]] = {f"{name}@{n}": [] for name, n, _ in variants}
        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds}: raw encodes, then builds, load {os.getloadavg()[0]:.2f}")
            for n in thread_counts:
                torch.set_num_threads(n)
                raw_runs[str(n)]["chunks"].append(raw_throughput(model, chunk_texts, embedder.batch_size))
                raw_runs[str(n)]["sentences"].append(raw_throughput(model, sentence_texts, embedder.batch_size))
            for name, n, sorted_encode in variants:
                torch.set_num_threads(default_threads)
                threads = nullcontext() if n == "shipped" else forced_torch_threads(embedder, int(n))
                encode = length_sorted_encode() if sorted_encode else nullcontext()
                with threads, encode:
                    run = build_in_process(corpus, index, embedder, rebuild=True)
                build_runs[f"{name}@{n}"].append(run)
        torch.set_num_threads(default_threads)

        log("cold CLI rebuild")
        wait_for_quiet("cold CLI rebuild", max_wait=120)
        cold = cli_index(corpus, index, rebuild=True)

        log("unchanged reindex")
        wait_for_quiet("unchanged reindex", max_wait=120)
        unchanged_runs = [cli_index(corpus, index) for _ in range(args.repeats)]
        torch_check = torch_check_child(corpus, index)

        log("one-file change")
        one_file_in_process = []
        for n in range(3):
            edit_one_file(corpus, n)
            one_file_in_process.append(build_in_process(corpus, index, embedder, rebuild=False))
        one_file_cli = []
        for n in range(3, 6):
            edit_one_file(corpus, n)
            one_file_cli.append(cli_index(corpus, index))

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    raw = {
        n: {
            kind: {
                "median_seconds": med([x["seconds"] for x in runs]),
                "median_per_s": med([x["per_s"] for x in runs]),
                "runs_per_s": [x["per_s"] for x in runs],
            }
            for kind, runs in by_kind.items()
        }
        for n, by_kind in raw_runs.items()
    }
    builds = {
        key: {
            "median_seconds": med([x["seconds"] for x in runs]),
            "median_chunks_per_s": med([x["chunks_per_s"] for x in runs]),
            "median_stages_s": {
                stage: med([x["stages_s"].get(stage, 0.0) for x in runs]) for stage in runs[0]["stages_s"]
            },
            "runs_seconds": [x["seconds"] for x in runs],
        }
        for key, runs in build_runs.items()
    }
    main_key = "current@shipped"
    build = builds[main_key]
    build["median_stage_share"] = {
        k: round(v / build["median_seconds"], 4) for k, v in build["median_stages_s"].items()
    }
    raw_default = raw[str(default_threads)]
    raw_chunks_per_s = raw_default["chunks"]["median_per_s"]
    raw_chunks_s, raw_sentences_s = raw_default["chunks"]["median_seconds"], raw_default["sentences"]["median_seconds"]
    ratio = round(build["median_chunks_per_s"] / raw_chunks_per_s, 3)
    per_round = [
        round(b["chunks_per_s"] / c["per_s"], 3)
        for b, c in zip(build_runs[main_key], raw_runs[str(default_threads)]["chunks"], strict=True)
    ]
    proposed_key = "length_sorted@shipped"
    proposed_ratio = round(builds[proposed_key]["median_chunks_per_s"] / raw_chunks_per_s, 3)
    ceiling = round(raw_chunks_s / (raw_chunks_s + raw_sentences_s), 3)
    embedding_s = build["median_stages_s"].get("embedding chunks", 0) + build["median_stages_s"].get(
        "embedding sentences", 0
    )
    by_threads = {
        n: round(builds[f"current@{n}"]["median_chunks_per_s"] / raw[str(n)]["chunks"]["median_per_s"], 3)
        for n in thread_counts
        if f"current@{n}" in builds
    }
    encode_efficiency = round((raw_chunks_s + raw_sentences_s) / embedding_s, 3) if embedding_s else None
    unchanged_report = statistics.median(r["report_seconds"] for r in unchanged_runs)
    unchanged_wall = statistics.median(r["process_wall_s"] for r in unchanged_runs)
    payload = {
        "machine": machine_info(),
        "quiet_check": quiet,
        "corpus": {
            "source": str(SQUAD),
            "files": files,
            "bytes": corpus_bytes,
            "documents": first_build["documents"],
            "chunks": first_build["chunks"],
            "sentences": first_build["sentences_embedded"],
        },
        "torch_threads_during_build": default_threads,
        "model_load_s": round(model_load_s, 3),
        "spacy_load_s": round(spacy_load_s, 3),
        "rounds": args.rounds,
        "first_build": first_build,
        "builds_model_loaded": builds,
        "full_build_model_loaded": build,
        "raw_encode_by_torch_threads": raw,
        "build_over_raw_chunk_throughput": ratio,
        "build_over_raw_per_round": per_round,
        "build_over_raw_by_torch_threads": by_threads,
        "ceiling_if_everything_but_encoding_were_free": ceiling,
        "ceiling_note": "a build embeds the sentences too: raw chunk time ÷ (raw chunk time + raw sentence time)",
        "embedding_stages_vs_raw_encode_of_same_texts": encode_efficiency,
        "embedding_stages_note": "raw encode time of chunks + sentences ÷ the build's two embedding stages",
        "proposed_length_sorted_encode": {
            "build": builds[proposed_key],
            "build_over_raw_chunk_throughput": proposed_ratio,
        },
        "cold_cli_rebuild": cold,
        "unchanged_reindex": {
            "cli_runs": unchanged_runs,
            "median_report_seconds": unchanged_report,
            "median_process_wall_s": unchanged_wall,
            "in_python_child": torch_check,
        },
        "one_file_change": {
            "in_process_model_loaded": one_file_in_process,
            "cli_cold": one_file_cli,
            "median_in_process_s": statistics.median(r["seconds"] for r in one_file_in_process),
            "median_cli_wall_s": statistics.median(r["process_wall_s"] for r in one_file_cli),
        },
        "rss_mb": {
            "bench_process_before_model": rss_start,
            "bench_process_model_and_spacy_loaded": rss_loaded,
            "bench_process_peak_after_build": rss_after_build,
            "cold_cli_rebuild_peak": cold["peak_rss_mb"],
            "unchanged_reindex_cli_peak": max(r["peak_rss_mb"] for r in unchanged_runs),
            "one_file_change_cli_peak": max(r["peak_rss_mb"] for r in one_file_cli),
        },
        "targets": {
            "build_over_raw_encode": {
                "target": TARGET_RATIO,
                "value": ratio,
                "verdict": verdict(ratio, TARGET_RATIO, lower_is_better=False),
                "value_with_proposed_change": proposed_ratio,
            },
            "unchanged_reindex_s": {
                "target": TARGET_UNCHANGED_S,
                "value_report_seconds": unchanged_report,
                "value_process_wall_s": unchanged_wall,
                "model_loaded": any(r["model_loaded"] for r in unchanged_runs),
                "torch_imported": torch_check["torch_imported"],
                "verdict": verdict(unchanged_wall, TARGET_UNCHANGED_S)
                if not any(r["model_loaded"] for r in unchanged_runs)
                else "not met",
            },
        },
    }
    write_results("index_build", payload)


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
