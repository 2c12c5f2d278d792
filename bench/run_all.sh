#!/usr/bin/env bash
# Run every benchmark once; results land in bench/results/*.json. About an hour on 2 cores (more when busy).
# Usage: bench/run_all.sh [--quick]   (--quick: fewer rounds, scale at 10k and 100k only)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if [[ "${1:-}" == "--quick" ]]; then
    "$PY" bench/latency.py --rounds 1
    "$PY" bench/reader_speed.py --rounds 1 --squad-questions 200
    "$PY" bench/cold_start.py --repeats 3
    "$PY" bench/index_build.py --repeats 3 --rounds 1
    "$PY" bench/peer_haystack.py --rounds 1
    "$PY" bench/scale.py --sizes 10000,100000 --queries 100
    "$PY" bench/stores.py --sizes 10000 --queries 100
else
    "$PY" bench/latency.py
    "$PY" bench/reader_speed.py
    "$PY" bench/cold_start.py
    "$PY" bench/index_build.py
    "$PY" bench/peer_haystack.py
    "$PY" bench/scale.py
    "$PY" bench/stores.py
fi
"$PY" bench/summarize.py
