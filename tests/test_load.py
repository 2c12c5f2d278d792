"""Load: 20 clients ask through the chat server's API while the corpus changes and the watcher reindexes.

Every question must be answered (bad ones with their message), no request may fail, every citation must
quote its document, and when the corpus stops changing the index must hold exactly the corpus: nothing lost.
The server (``serve``, as ``cstoqa serve`` runs it, with the fake embedder) runs in its own process and
listens on 127.0.0.1 only. ``CSTOQA_LOAD_SECONDS`` sets how long the load lasts (default 15 s; the test
takes about 15 s more to start and stop the server and let the index catch up).
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cstoqa.index import store
from support import free_port

CLIENTS = 20
SECONDS = float(os.environ.get("CSTOQA_LOAD_SECONDS", "15"))
CHANGE_EVERY = 0.6
KEYS = {"question", "interpreted_as", "text", "abstained", "confidence", "kind", "message", "citations", "passages"}
QUESTIONS = [
    "Where is the secretariat located?",
    "Which states are full members?",
    "When was the rapid reaction force deployed to Kazakhstan?",
    "Where did drill number 3 take place?",
    "Who won the 2018 football World Cup?",
    "What does it coordinate?",
    "",
    "?!?",
    "集体安全条约是什么时候签署的？",
    "x" * 5000,
]


def drill(n: int) -> str:
    return f"Drill {n}\n\nThe annual drill number {n} took place near Dushanbe in spring.\n"


SERVER_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    sys.path.insert(0, {tests!r})
    from support import FakeEmbedder, FakeReader
    from cstoqa.assistant import Assistant
    from cstoqa.chat.server import serve
    from cstoqa.settings import Settings

    corpus, index, data, port = sys.argv[1:5]
    assistant = Assistant.open(corpus, index, Settings(abstain_threshold=0.0), FakeEmbedder(), reader=FakeReader())
    serve(assistant.corpus_dir, assistant.store, port=int(port), data=Path(data), assistant=assistant,
          echo=lambda message: print(message, flush=True))
    """
).format(tests=str(Path(__file__).resolve().parent))


@pytest.fixture
def server(small_corpus: Path, index_dir: Path, tmp_path: Path) -> Iterator[str]:
    """``cstoqa serve`` (watching the corpus) in its own process with the fake embedder; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, str(small_corpus), str(index_dir), str(tmp_path / "data"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "cstoqa chat page on " in line:
                break
        url = f"http://127.0.0.1:{port}/"
        assert f"cstoqa chat page on {url}" in "".join(lines), "".join(lines)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in out, "".join(lines) + out


@pytest.mark.slow
def test_twenty_clients_are_all_answered_while_the_corpus_changes(
    server: str, small_corpus: Path, index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gradio_client import Client

    url = server
    # every version of every document's stored text, to check citations against
    texts = {doc_id: {doc.text} for doc_id, doc in store.load(index_dir).documents.items()}
    latencies: list[float] = []
    errors: list[str] = []
    asked = answered = 0
    cited: set[str] = set()
    swapped_in: set[str] = set()
    lock = threading.Lock()
    ready = threading.Barrier(CLIENTS + 1)
    stop = threading.Event()

    def check(result: Any) -> None:
        assert isinstance(result, dict) and set(result) == KEYS, result
        assert result["abstained"] == (result["text"] is None) and (result["message"] or not result["abstained"])
        for c in result["citations"]:
            assert any(t[c["start"] : c["end"]] == c["quote"] for t in texts[c["doc_id"]]), c
            cited.add(c["doc_id"])

    def client(seed: int) -> None:
        nonlocal asked, answered
        rng = random.Random(seed)
        api = Client(url, verbose=False, analytics_enabled=False)
        ready.wait()
        while not stop.is_set():
            question = rng.choice(QUESTIONS)
            started = time.perf_counter()
            with lock:
                asked += 1
            try:
                result = api.predict(question, "Where is the secretariat located?", api_name="/ask")
                seconds = time.perf_counter() - started
                with lock:
                    check(result)
                    answered += 1
                    latencies.append(seconds)
            except Exception as exc:
                with lock:
                    errors.append(f"{question[:40]!r}: {type(exc).__name__}: {exc}")

    def watch_generations() -> None:  # each new target of index/current is a reindex swapped in
        while not stop.is_set():
            swapped_in.add(os.readlink(index_dir / "current"))
            time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    threads.append(threading.Thread(target=watch_generations, daemon=True))
    for t in threads:
        t.start()
    ready.wait(timeout=60)
    started = time.monotonic()
    changes = 0
    while time.monotonic() - started < SECONDS:  # the corpus changes under the clients
        n = changes
        with lock:
            texts[f"drill-{n}.txt"] = {drill(n)}
        (small_corpus / f"drill-{n}.txt").write_text(drill(n), encoding="utf-8")
        if n >= 2:
            (small_corpus / f"drill-{n - 2}.txt").unlink()
        changes += 1
        time.sleep(CHANGE_EVERY)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.monotonic() - started

    assert errors == []
    assert answered == asked and answered >= CLIENTS
    assert len(swapped_in) >= 4  # the first generation and at least three reindexes under load
    assert any(d.startswith("drill-") for d in cited)  # answers came from generations swapped in under load

    deadline = time.monotonic() + 30  # the corpus is still now: the watcher catches up, and nothing is lost
    corpus_files = {p.name for p in small_corpus.iterdir()}
    while set(store.read_manifest(index_dir).documents) != corpus_files:
        assert time.monotonic() < deadline, "the index never caught up with the corpus"
        time.sleep(0.2)
    last = Client(url, verbose=False, analytics_enabled=False).predict(
        f"Where did drill number {changes - 1} take place?", api_name="/ask"
    )
    assert last["passages"][0]["doc_id"] == f"drill-{changes - 1}.txt"

    p95 = statistics.quantiles(latencies, n=20)[18]
    summary = (
        f"load: {CLIENTS} clients, {answered}/{asked} questions answered in {elapsed:.1f} s, {len(errors)} errors, "
        f"{changes} corpus changes, {len(swapped_in) - 1} index generations swapped in, latency p50 "
        f"{statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    with capsys.disabled():
        print(f"\n{summary}")
    assert p95 < 10.0, summary
