"""The `cstoqa` command through typer's CLI runner, with the fake embedder swapped in for the real model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cstoqa import cli
from cstoqa.errors import InvalidQuestionError
from cstoqa.index import store
from support import FakeEmbedder, FakeReader

DOCS = ["guide.txt", "notes.md", "page.html"]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, small_corpus: Path, index_dir: Path) -> dict[str, str]:
    """Fake embedder wherever the CLI builds the real one; spaCy annotation skipped for speed."""
    monkeypatch.setattr("cstoqa.embedding.SentenceTransformerEmbedder", FakeEmbedder)
    monkeypatch.setattr("cstoqa.assistant.SentenceTransformerEmbedder", FakeEmbedder)
    monkeypatch.setattr("cstoqa.assistant.TransformerReader", FakeReader)
    return {"CSTOQA_CORPUS": str(small_corpus), "CSTOQA_INDEX": str(index_dir)}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_index_json_reports_added_documents(runner: CliRunner, env: dict[str, str], index_dir: Path) -> None:
    result = runner.invoke(cli.app, ["index", "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == DOCS
    assert report["chunks_embedded"] == report["total_chunks"] > 0
    assert report["model_loaded"] is True
    assert store.load(index_dir).manifest.counts.documents == 3

    again = json.loads(runner.invoke(cli.app, ["index", "--json"], env=env).stdout)
    assert again["unchanged"] == DOCS and again["chunks_embedded"] == 0 and again["model_loaded"] is False


def test_index_plain_text_report(runner: CliRunner, env: dict[str, str], small_corpus: Path) -> None:
    (small_corpus / "image.png").write_bytes(b"\x89PNG")
    result = runner.invoke(cli.app, ["index"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "documents: 3 added, 0 changed, 0 removed, 0 unchanged, 1 skipped"
    assert lines[1].startswith("chunks embedded: ")
    assert "  skipped image.png: unsupported file type .png" in lines


def test_index_rebuild_option(runner: CliRunner, env: dict[str, str]) -> None:
    runner.invoke(cli.app, ["index"], env=env)
    result = runner.invoke(cli.app, ["index", "--rebuild", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rebuilt"] is True


def test_search_json_returns_passages(runner: CliRunner, env: dict[str, str], index_dir: Path) -> None:
    result = runner.invoke(cli.app, ["search", "Where is the secretariat located?", "--json", "--top-k", "3"], env=env)
    assert result.exit_code == 0, result.output
    passages = json.loads(result.stdout)
    assert len(passages) == 3
    top = passages[0]
    assert top["chunk"]["doc_id"] == "page.html" and top["chunk"]["section"] == "Secretariat"
    assert top["dense_rank"] == 1 and top["lexical_rank"] == 1
    documents = store.load(index_dir).documents
    for p in passages:
        chunk = p["chunk"]
        assert documents[chunk["doc_id"]].text[chunk["start"] : chunk["end"]] == chunk["text"]


def test_search_plain_text(runner: CliRunner, env: dict[str, str]) -> None:
    result = runner.invoke(cli.app, ["search", "Where is the secretariat located?", "--top-k", "1"], env=env)
    assert result.exit_code == 0, result.output
    first, body = result.stdout.splitlines()
    assert first.startswith("[1] page.html § Secretariat [")
    assert "dense#1 bm25#1" in first
    assert body.strip().startswith("The secretariat is located in Moscow")


def test_ask_json_citations_quote_the_source(runner: CliRunner, env: dict[str, str], index_dir: Path) -> None:
    result = runner.invoke(cli.app, ["ask", "Where is the secretariat located?", "--json"], env=env)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["question"] == "Where is the secretariat located?"
    documents = store.load(index_dir).documents
    for citation in answer["citations"]:
        assert documents[citation["doc_id"]].text[citation["start"] : citation["end"]] == citation["quote"]


def test_bad_option_is_a_usage_error(runner: CliRunner, env: dict[str, str]) -> None:
    result = runner.invoke(cli.app, ["search", "treaty", "--top-k", "0"], env=env)
    assert result.exit_code == 2
    assert "--top-k" in result.output


def test_app_leaves_cstoqa_errors_to_main(runner: CliRunner, env: dict[str, str]) -> None:
    result = runner.invoke(cli.app, ["search", "?!?"], env=env)
    assert isinstance(result.exception, InvalidQuestionError)


def run_main(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from cstoqa.cli import main; sys.argv[0] = 'cstoqa'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_error_is_a_message_and_exit_code_1(tmp_path: Path) -> None:
    missing = tmp_path / "no-corpus"
    result = run_main("index", "--corpus", str(missing), "--index", str(tmp_path / "index"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        f"error: corpus folder {missing} does not exist; create it and put .txt/.md/.html/.pdf files in it"
    )


def test_error_prints_no_traceback(tmp_path: Path) -> None:
    result = run_main(
        "search", "treaty", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "ix"), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr == f"error: corpus folder {tmp_path / 'nope'} does not exist and there is no usable index "
        f"in {tmp_path / 'ix'}\n"
    )


def test_main_exits_with_code_1_on_a_bad_question(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["cstoqa", "search", "?!?"])
    with pytest.raises(SystemExit) as caught:
        cli.main()
    assert caught.value.code == 1
    assert capsys.readouterr().err == "error: the question has no words in it; type a question about the documents\n"
