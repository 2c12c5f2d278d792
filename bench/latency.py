"""Warm per-question latency of ``Assistant.ask`` on the bundled CSTO corpus, against the floor of the same run.

For every question of eval/csto_qa.jsonl, in each round, back to back (so a change of machine load hits both):

* floor: ``embedder.encode([question])`` and one reader forward ``model(**pad(windows))`` over the windows ask
  reads (``make_windows`` over the first ``reader_passages`` passages retrieval returns), on one torch thread;
* ask: ``Assistant.ask(question, timings=t)`` end to end; the seam fills ``t`` with the milliseconds of each
  stage (encode, retrieve, read, answer), and what the stages leave out of the total is reported as "other".

Usage: python bench/latency.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import (
    QUESTIONS,
    build_index,
    copy_corpus,
    log,
    machine_info,
    peak_rss_mb,
    summary,
    verdict,
    wait_for_quiet,
    write_results,
)

TARGET = 1.3
STAGES = ("encode", "retrieve", "read", "answer", "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the question list")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-latency-") as tmp:
        corpus, index = copy_corpus(Path(tmp) / "corpus"), Path(tmp) / "index"
        log("building the CSTO index in a temporary folder")
        build = build_index(corpus, index)

        import torch

        from cstoqa.assistant import Assistant, clean_question
        from cstoqa.evaluation.datasets import load_jsonl
        from cstoqa.reader.model import load_model, load_tokenizer, pad, precision
        from cstoqa.reader.windows import make_windows

        questions = [item.question for item in load_jsonl(QUESTIONS)]
        assistant = Assistant.open(corpus, index, refresh=False)
        settings, embedder = assistant.settings, assistant.embedder
        log("warming up: every question once through ask")
        for q in questions:
            assistant.ask(q)
        peak_ask_process = peak_rss_mb()  # before the floor's own copy of the reader loads

        # The windows ask reads for each question: the passages Assistant.read retrieves, cut as the reader cuts.
        model, tokenizer = load_model(), load_tokenizer()
        texts, windows = {}, {}
        for q in questions:
            texts[q] = text = clean_question(q, settings.max_question_chars)
            passages, _ = assistant.read(text, assistant.data)
            windows[q] = make_windows(tokenizer, text, [p.text for p in passages[: settings.reader_passages]])

        def floor(q: str) -> float:
            torch.set_num_threads(1)
            started = time.perf_counter()
            embedder.encode([texts[q]])
            if windows[q]:
                with torch.inference_mode(), precision():
                    model(**pad(windows[q]))
            return (time.perf_counter() - started) * 1000

        for q in questions[:10]:
            floor(q)
        quiet = wait_for_quiet("latency")
        samples: dict[str, list[float]] = {k: [] for k in ("floor", "ask", *STAGES)}
        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds}")
            for q in questions:
                samples["floor"].append(floor(q))
                timings: dict[str, float] = {}
                started = time.perf_counter()
                assistant.ask(q, timings=timings)
                total = (time.perf_counter() - started) * 1000
                samples["ask"].append(total)
                for stage in STAGES[:-1]:
                    samples[stage].append(timings[stage])
                samples["other"].append(total - sum(timings[s] for s in STAGES[:-1]))

    stats = {k: summary(v) for k, v in samples.items()}
    ratio = round(stats["ask"]["p50"] / stats["floor"]["p50"], 3)
    window_counts = [len(w) for w in windows.values()]
    payload = {
        "machine": machine_info(),
        "quiet_check": quiet,
        "corpus": {"documents": build["report"]["total_documents"], "chunks": build["report"]["total_chunks"]},
        "questions": len(questions),
        "rounds": args.rounds,
        "reader_passages": settings.reader_passages,
        "windows_per_question": summary(window_counts),
        "ask_ms": stats["ask"],
        "floor_ms": stats["floor"],
        "ratio_p50_ask_to_p50_floor": ratio,
        "ratio_p95_ask_to_p95_floor": round(stats["ask"]["p95"] / stats["floor"]["p95"], 3),
        "stages_ms": {k: stats[k] for k in STAGES},
        "stage_share_of_p50_ask": {k: round(stats[k]["p50"] / stats["ask"]["p50"], 4) for k in STAGES},
        "floor_definition": "embedder.encode([question]) + one reader forward over ask's windows, 1 torch thread",
        "rss_mb": {"peak_warm_ask_process": peak_ask_process, "peak_with_floor_model": peak_rss_mb()},
        "index_build_child": {"seconds": round(build["seconds"], 2), "peak_rss_mb": build["peak_rss_mb"]},
        "target": {"warm_p50_over_floor": TARGET, "value": ratio, "verdict": verdict(ratio, TARGET)},
    }
    write_results("latency", payload)


if __name__ == "__main__":
    main()
