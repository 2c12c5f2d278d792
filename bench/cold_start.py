"""Cold start: process start to first answer for `cstoqa ask`, against the import-and-load floor.

The index is built first (in a temporary copy of the corpus), so every run below only opens it. Runs alternate,
so a change of machine load hits each alike; medians are reported. Each child's peak RSS comes from os.wait4.

* ask:   ``cstoqa ask "When was the CSTO established?" --corpus … --index …`` (the installed console script)
* floor: ``python -c`` that imports torch and sentence_transformers, loads the same model and encodes the question
* python: ``python -c pass`` (interpreter start, for reference)
* breakdown: a Python child that does what ``cstoqa ask`` does with a timestamp after each step
* proposed: the same child with the model loading in a background thread from the first line, while the CLI,
  pydantic, bm25s and faiss import and the index loads (a prototype of the source change; its output is checked
  to equal the CLI's)

Usage: python bench/cold_start.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    CLI,
    PYTHON,
    build_index,
    check,
    copy_corpus,
    log,
    machine_info,
    model_path,
    run_child,
    verdict,
    wait_for_quiet,
    write_results,
)

QUESTION = "When was the CSTO established?"
TARGET = 1.3

FLOOR = """
import torch
from sentence_transformers import SentenceTransformer
model = SentenceTransformer({path!r}, device="cpu")
model.encode([{question!r}], normalize_embeddings=True)
"""

# What `cstoqa ask` does (cli.main → typer → cli.ask → Assistant.open → ask → print), one timestamp per step.
# With BACKGROUND set, the model starts loading in a thread before anything else is imported.
BREAKDOWN = """
import time
T = [("start", time.perf_counter())]
BACKGROUND = {background}
if BACKGROUND:
    import threading
    from cstoqa.embedding import SentenceTransformerEmbedder
    EMBEDDER = SentenceTransformerEmbedder()
    threading.Thread(target=EMBEDDER._load, daemon=True).start()
    T.append(("start model thread", time.perf_counter()))
import sys, json
from pathlib import Path
from cstoqa.cli import _format_answer
T.append(("import cstoqa.cli (typer, pydantic types)", time.perf_counter()))
from cstoqa.assistant import Assistant
T.append(("import cstoqa.assistant (answerer, bm25s, faiss)", time.perf_counter()))
from cstoqa.index import builder, store
from cstoqa.settings import Settings
from cstoqa.embedding import SentenceTransformerEmbedder
settings = Settings()
corpus, index = Path({corpus!r}), Path({index!r})
manifest = store.read_manifest(index)
sources = builder.scan(corpus, settings)[0]
current = builder.compatible(manifest, settings) is None and builder.is_current(manifest, sources)
T.append(("manifest + corpus scan (is_current)", time.perf_counter()))
data = store.load(index)
T.append(("store.load (verify checksums, read tables, faiss, bm25)", time.perf_counter()))
embedder = EMBEDDER if BACKGROUND else SentenceTransformerEmbedder(settings.model_name)
assistant = Assistant(corpus, index, settings, embedder, data)
embedder._load()
step = "model: import torch + sentence_transformers, load" + (" (wait for thread)" if BACKGROUND else "")
T.append((step, time.perf_counter()))
answer = assistant.ask({question!r})
T.append(("first ask (encode, retrieve, answer)", time.perf_counter()))
text = _format_answer(answer)
steps = [(name, round(t - T[i][1], 4)) for i, (name, t) in enumerate(T[1:])]
total = round(T[-1][1] - T[0][1], 4)
print(json.dumps({{"steps": steps, "total": total, "output": text, "current": current}}))
"""


def median_of(runs: list[dict[str, Any]], key: str = "seconds") -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-cold-") as tmp:
        corpus, index = copy_corpus(Path(tmp) / "corpus"), Path(tmp) / "index"
        log("building the CSTO index in a temporary folder")
        build_index(corpus, index)
        ask_cmd = [CLI, "ask", QUESTION, "--corpus", str(corpus), "--index", str(index)]
        floor_cmd = [PYTHON, "-c", FLOOR.format(path=model_path(), question=QUESTION)]
        python_cmd = [PYTHON, "-c", "pass"]

        def breakdown_cmd(background: bool) -> list[str]:
            code = BREAKDOWN.format(background=background, corpus=str(corpus), index=str(index), question=QUESTION)
            return [PYTHON, "-c", code]

        log("warming the file cache (one run of each, not counted)")
        expected = check(run_child(ask_cmd), "cstoqa ask")["stdout"].rstrip("\n")
        check(run_child(floor_cmd), "floor")
        quiet = wait_for_quiet("cold start")
        runs: dict[str, list[dict[str, Any]]] = {"ask": [], "floor": [], "python": [], "breakdown": [], "proposed": []}
        same_output = {"breakdown": True, "proposed": True}
        for r in range(args.repeats):
            log(f"round {r + 1}/{args.repeats}")
            for name, cmd in (
                ("floor", floor_cmd),
                ("ask", ask_cmd),
                ("python", python_cmd),
                ("breakdown", breakdown_cmd(False)),
                ("proposed", breakdown_cmd(True)),
            ):
                result = check(run_child(cmd), name)
                entry: dict[str, Any] = {"seconds": round(result["seconds"], 3), "peak_rss_mb": result["peak_rss_mb"]}
                if name in ("breakdown", "proposed"):
                    detail = json.loads(result["stdout"])
                    entry["steps"] = detail["steps"]
                    entry["in_process_total"] = detail["total"]
                    same_output[name] &= detail["output"] == expected
                runs[name].append(entry)

    medians = {name: median_of(v) for name, v in runs.items()}
    steps: dict[str, float] = {}
    for name, _ in runs["breakdown"][0]["steps"]:
        steps[name] = round(statistics.median(dict(e["steps"])[name] for e in runs["breakdown"]), 3)
    proposed_steps: dict[str, float] = {}
    for name, _ in runs["proposed"][0]["steps"]:
        proposed_steps[name] = round(statistics.median(dict(e["steps"])[name] for e in runs["proposed"]), 3)
    ratio = round(medians["ask"] / medians["floor"], 3)
    proposed_ratio = round(medians["proposed"] / medians["floor"], 3)
    payload = {
        "machine": machine_info(),
        "quiet_check": quiet,
        "question": QUESTION,
        "repeats": args.repeats,
        "median_s": medians,
        "ratio_ask_to_floor": ratio,
        "ratio_breakdown_child_to_floor": round(medians["breakdown"] / medians["floor"], 3),
        "breakdown_median_step_s": steps,
        "proposed_background_model_load": {
            "median_step_s": proposed_steps,
            "ratio_to_floor": proposed_ratio,
            "output_equals_cli": same_output["proposed"],
        },
        "breakdown_output_equals_cli": same_output["breakdown"],
        "peak_rss_mb_median": {name: median_of(v, "peak_rss_mb") for name, v in runs.items()},
        "runs": runs,
        "target": {
            "cold_start_over_floor": TARGET,
            "value": ratio,
            "verdict": verdict(ratio, TARGET),
            "value_with_proposed_change": proposed_ratio,
        },
    }
    write_results("cold_start", payload)


if __name__ == "__main__":
    main()
