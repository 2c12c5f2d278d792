"""Faults: a reindex process killed with SIGKILL at chosen and at random moments, and two reindexers at once.

After every kill the index in place loads and answers, the next reindex completes and cleans up what the
killed one left, and nothing indexed before is lost. The stalls and slowdowns are injected into the
subprocess by the script below (environment variables pick the moment), never by product code.
``tests/test_index.py`` covers kills while embedding and after the dense index is written.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cstoqa import indexing
from cstoqa.assistant import Assistant
from cstoqa.index import store
from cstoqa.index.store import IndexData
from cstoqa.settings import Settings
from support import FakeEmbedder, FakeReader, assert_valid_answer

TESTS_DIR = Path(__file__).resolve().parent

REINDEX_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    sys.path.insert(0, {tests!r})
    from support import FakeEmbedder
    from cstoqa import indexing
    from cstoqa.index import store
    from cstoqa.settings import Settings

    STALL = os.environ.get("CSTOQA_TEST_STALL", "")  # the step at which to stop and wait for SIGKILL
    SLOW = float(os.environ.get("CSTOQA_TEST_SLOW", "0"))  # seconds added to every step, for random kills
    marker = Path(os.environ["CSTOQA_TEST_MARKER"])

    def reached(step):
        time.sleep(SLOW)
        if step == STALL:
            marker.write_text(step)
            time.sleep(300)

    real_iter_sources = indexing.iter_sources

    def iter_sources(*args, **kwargs):  # scanning: after each file is read
        for source in real_iter_sources(*args, **kwargs):
            yield source
            reached("scan")

    class SlowEmbedder(FakeEmbedder):
        def encode(self, texts):
            reached("encode")
            return super().encode(texts)

    real_write_jsonl = store._write_jsonl

    def write_jsonl(path, rows):  # writing: after each table of the new generation
        real_write_jsonl(path, rows)
        reached("write")

    real_rename = Path.rename

    def rename(self, target):  # the complete generation moved to its final name, not yet current
        result = real_rename(self, target)
        reached("renamed")
        return result

    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):  # the symlink swap that makes the new generation current
        swap = Path(dst).name == "current"
        if swap:
            reached("before_swap")
        real_replace(src, dst, *args, **kwargs)
        if swap:
            reached("after_swap")

    indexing.iter_sources = iter_sources
    store._write_jsonl = write_jsonl
    Path.rename = rename
    os.replace = replace
    if not STALL:
        marker.write_text("started")
    gate = os.environ.get("CSTOQA_TEST_GATE")  # wait for the go, to start two at the same moment
    while gate and not Path(gate).exists():
        time.sleep(0.005)
    indexing.reindex(Path(sys.argv[1]), Path(sys.argv[2]), Settings(), SlowEmbedder())
    print("finished")
    """
).format(tests=str(TESTS_DIR))


def generations(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.glob("gen-*"))


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith((".gen-", ".current.")))


def start_reindex(
    corpus: Path, index_dir: Path, marker: Path, stall: str = "", slow: float = 0.0, gate: Path | None = None
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CSTOQA_TEST_STALL": stall,
        "CSTOQA_TEST_SLOW": str(slow),
        "CSTOQA_TEST_MARKER": str(marker),
        "CSTOQA_TEST_GATE": str(gate or ""),
    }
    return subprocess.Popen(
        [sys.executable, "-c", REINDEX_SCRIPT, str(corpus), str(index_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(marker: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"reindex subprocess ended early: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail("reindex subprocess never reached the step to kill")
        time.sleep(0.02)


def kill(proc: subprocess.Popen[str]) -> bool:
    """SIGKILL the process; True when it was killed, False when it had already finished."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, -signal.SIGKILL), err[-2000:]
    return proc.returncode == -signal.SIGKILL


@pytest.fixture
def built(small_corpus: Path, index_dir: Path, settings: Settings, fake_embedder: FakeEmbedder) -> IndexData:
    _, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert data is not None
    return data


def assert_answers(index_dir: Path, corpus: Path, settings: Settings) -> Assistant:
    """The index in place loads (checksums and all) and answers questions."""
    assistant = Assistant(corpus, index_dir, settings, FakeEmbedder(), store.load(index_dir), FakeReader())
    assert assistant.search("Where is the secretariat located?")[0].doc_id == "page.html"
    assert_valid_answer(assistant.ask("Who signed the Collective Security Treaty?"), assistant.data.documents)
    return assistant


FUNDING = "\nFunding\n\nEach member pays dues every year to the common fund.\n"


@pytest.mark.parametrize("step", ["scan", "write", "renamed", "before_swap", "after_swap"])
def test_reindex_killed_at_each_step_loses_nothing(
    built: IndexData, small_corpus: Path, index_dir: Path, settings: Settings, tmp_path: Path, step: str
) -> None:
    guide = small_corpus / "guide.txt"
    guide.write_text(guide.read_text() + FUNDING)
    proc = start_reindex(small_corpus, index_dir, tmp_path / "marker", stall=step)
    wait_for(tmp_path / "marker", proc)
    assert kill(proc)

    swapped = step == "after_swap"
    assistant = assert_answers(index_dir, small_corpus, settings)
    assert (assistant.data.path == built.path) != swapped  # the old index, unless the swap was done
    assert ("Funding" in {c.section for c in assistant.data.chunks}) == swapped
    expected_leftovers = {"scan": 0, "write": 1, "renamed": 0, "before_swap": 1, "after_swap": 0}[step]
    assert len(leftovers(index_dir)) == expected_leftovers
    if step in ("renamed", "before_swap"):
        assert len(generations(index_dir)) == 2  # a complete generation that never became current

    report = assistant.reindex()  # the lock died with the killed process
    if swapped:
        assert (report.changed, report.unchanged) == ([], sorted(built.documents))
    else:
        assert (report.changed, report.unchanged) == (["guide.txt"], ["notes.md", "page.html"])
    assert leftovers(index_dir) == []
    current = (index_dir / "current").resolve().name
    assert current in generations(index_dir) and len(generations(index_dir)) <= 2
    after = store.load(index_dir)
    assert "Funding" in {c.section for c in after.chunks}
    assert {c.chunk_id for c in built.chunks if c.doc_id != "guide.txt"} <= {c.chunk_id for c in after.chunks}


def test_reindex_killed_at_random_moments_loses_nothing(
    built: IndexData, small_corpus: Path, index_dir: Path, settings: Settings, tmp_path: Path
) -> None:
    """Each round changes a document, starts a slowed-down reindex and kills it after a random delay."""
    rng = random.Random(6)
    guide = small_corpus / "guide.txt"
    outcomes = []
    for round_ in range(4):
        before = store.load(index_dir).documents["guide.txt"].text
        guide.write_text(guide.read_text() + f"\nRound {round_}\n\nDrill number {round_} took place in spring.\n")
        marker = tmp_path / f"started-{round_}"
        proc = start_reindex(small_corpus, index_dir, marker, slow=0.12)
        wait_for(marker, proc)
        time.sleep(rng.uniform(0.0, 1.6))
        outcomes.append("killed" if kill(proc) else "finished")

        assistant = assert_answers(index_dir, small_corpus, settings)
        assert assistant.data.documents["guide.txt"].text in (before, guide.read_text())  # old or new, whole
        assistant.reindex()
        assert leftovers(index_dir) == [] and len(generations(index_dir)) <= 2
        assert store.load(index_dir).documents["guide.txt"].text == guide.read_text()
    print(f"random kills: {outcomes}")
    assert "killed" in outcomes, outcomes


# --- two reindexers at once -----------------------------------------------------------------------------


@pytest.fixture
def stalled_reindexer(
    built: IndexData, small_corpus: Path, index_dir: Path, tmp_path: Path
) -> Iterator[subprocess.Popen[str]]:
    """Another process in the middle of a reindex (stalled while embedding), holding the index lock."""
    guide = small_corpus / "guide.txt"
    guide.write_text(guide.read_text() + FUNDING)
    proc = start_reindex(small_corpus, index_dir, tmp_path / "marker", stall="encode")
    wait_for(tmp_path / "marker", proc)
    try:
        yield proc
    finally:
        kill(proc)


def test_a_second_reindexer_is_told_the_index_is_busy(
    stalled_reindexer: subprocess.Popen[str],
    built: IndexData,
    small_corpus: Path,
    index_dir: Path,
    settings: Settings,
    fake_embedder: FakeEmbedder,
) -> None:
    code = "import sys; from cstoqa.cli import main; sys.argv[0] = 'cstoqa'; main()"
    second = subprocess.run(
        [sys.executable, "-c", code, "index", "--corpus", str(small_corpus), "--index", str(index_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1 and second.stdout == ""
    assert second.stderr == f"error: another reindex of {index_dir} is running; wait for it to finish\n"

    # A reader meanwhile (the corpus has changed, but the refresh is another process's job) uses the index in place.
    reader = Assistant.open(small_corpus, index_dir, settings, fake_embedder)
    assert reader.last_report is None and reader.data.path == built.path
    assert reader.search("Where is the secretariat located?")[0].doc_id == "page.html"

    assert kill(stalled_reindexer)
    report, data = indexing.reindex(small_corpus, index_dir, settings, fake_embedder)
    assert report.changed == ["guide.txt"] and data is not None and leftovers(index_dir) == []


def test_two_reindexers_started_together_leave_one_good_index(
    built: IndexData, small_corpus: Path, index_dir: Path, settings: Settings, tmp_path: Path
) -> None:
    guide = small_corpus / "guide.txt"
    guide.write_text(guide.read_text() + FUNDING)
    gate = tmp_path / "go"
    procs = [start_reindex(small_corpus, index_dir, tmp_path / f"m{i}", slow=0.05, gate=gate) for i in range(2)]
    for i, proc in enumerate(procs):
        wait_for(tmp_path / f"m{i}", proc)
    gate.touch()
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    finished = [r for r in results if r[0] == 0 and "finished" in r[1]]
    busy = [r for r in results if r[0] != 0]
    assert len(finished) == len(busy) == 1, results
    assert f"IndexBusyError: another reindex of {index_dir} is running; wait for it to finish" in busy[0][2]
    after = assert_answers(index_dir, small_corpus, settings).data
    assert "Funding" in {c.section for c in after.chunks}
    assert leftovers(index_dir) == [] and len(generations(index_dir)) == 2
