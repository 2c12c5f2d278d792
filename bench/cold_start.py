"""Cold start: process start to first answer of `cstoqa ask`, against the import-load-and-compute floor.

The index is built first (in a temporary copy of the corpus), so every run below only opens it. Runs alternate,
so a change of machine load hits each alike; medians are reported, with each child's own peak RSS.

* ask:   ``cstoqa ask "When was the CSTO established?" --corpus … --index …`` (the installed console script)
* floor: ``python -c`` that imports torch, sentence_transformers and transformers, loads the embedding model and
  the reader (``load_model``/``load_tokenizer``), encodes the question and runs one reader forward over the
  windows ask reads (the passages of ``cstoqa search --json``, cut by ``make_windows``), on one torch thread
* breakdown: a Python child that imports cstoqa.assistant, opens the index and asks once with the ``timings``
  seam (the first encode and read include loading their models)

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
import torch, sentence_transformers, transformers
from sentence_transformers import SentenceTransformer
from cstoqa.reader.model import load_model, load_tokenizer, pad
from cstoqa.reader.windows import make_windows
torch.set_num_threads(1)
SentenceTransformer({path!r}, device="cpu").encode([{question!r}], normalize_embeddings=True)
model, tokenizer = load_model(), load_tokenizer()
with torch.inference_mode():
    model(**pad(make_windows(tokenizer, {question!r}, {passages!r})))
"""

BREAKDOWN = """
import json, time
from pathlib import Path
started = time.perf_counter()
from cstoqa.assistant import Assistant
steps = {{"import cstoqa.assistant": time.perf_counter() - started}}
mark = time.perf_counter()
assistant = Assistant.open(Path({corpus!r}), Path({index!r}))
steps["Assistant.open (scan, load index)"] = time.perf_counter() - mark
timings = {{}}
mark = time.perf_counter()
assistant.ask({question!r}, timings=timings)
steps["first ask"] = time.perf_counter() - mark
steps.update({{f"  {{k}}": v / 1000 for k, v in timings.items()}})
print(json.dumps({{k: round(v, 4) for k, v in steps.items()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-cold-") as tmp:
        corpus, index = copy_corpus(Path(tmp) / "corpus"), Path(tmp) / "index"
        log("building the CSTO index in a temporary folder")
        build_index(corpus, index)
        from cstoqa.settings import Settings

        settings = Settings()
        where = ["--corpus", str(corpus), "--index", str(index)]
        top_k = max(settings.top_k, settings.reader_passages)
        found = check(run_child([CLI, "search", QUESTION, *where, "--top-k", str(top_k), "--json"]), "cstoqa search")
        passages = [p["chunk"]["text"] for p in json.loads(found["stdout"])][: settings.reader_passages]
        commands = {
            "floor": [PYTHON, "-c", FLOOR.format(path=model_path(), question=QUESTION, passages=passages)],
            "ask": [CLI, "ask", QUESTION, *where],
            "breakdown": [PYTHON, "-c", BREAKDOWN.format(corpus=str(corpus), index=str(index), question=QUESTION)],
        }
        log("warming the file cache (one run of each, not counted)")
        for name, cmd in commands.items():
            check(run_child(cmd), name)
        quiet = wait_for_quiet("cold start")
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
        for r in range(args.repeats):
            log(f"round {r + 1}/{args.repeats}")
            for name, cmd in commands.items():
                result = check(run_child(cmd), name)
                entry: dict[str, Any] = {"seconds": round(result["seconds"], 3), "peak_rss_mb": result["peak_rss_mb"]}
                if name == "breakdown":
                    entry["steps_s"] = json.loads(result["stdout"])
                runs[name].append(entry)

    def median(name: str, key: str = "seconds") -> float:
        return round(statistics.median(e[key] for e in runs[name]), 3)

    steps = {
        k: round(statistics.median(e["steps_s"][k] for e in runs["breakdown"]), 3)
        for k in runs["breakdown"][0]["steps_s"]
    }
    ratio = round(median("ask") / median("floor"), 3)
    payload = {
        "machine": machine_info(),
        "quiet_check": quiet,
        "question": QUESTION,
        "repeats": args.repeats,
        "median_s": {name: median(name) for name in runs},
        "ratio_ask_to_floor": ratio,
        "breakdown_median_step_s": steps,
        "peak_rss_mb_median": {name: median(name, "peak_rss_mb") for name in runs},
        "runs": runs,
        "target": {"cold_start_over_floor": TARGET, "value": ratio, "verdict": verdict(ratio, TARGET)},
    }
    write_results("cold_start", payload)


if __name__ == "__main__":
    main()
