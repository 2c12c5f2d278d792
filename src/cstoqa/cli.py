"""The `cstoqa` command: JSON for scripts, plain text for people, a one-line message on error."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cstoqa.errors import CstoqaError
from cstoqa.types import Answer, IndexReport, Passage

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Extractive question answering over a document collection, with citations.",
)

CorpusOpt = Annotated[Path, typer.Option("--corpus", envvar="CSTOQA_CORPUS", help="Folder of source documents.")]
IndexOpt = Annotated[
    str,
    typer.Option(
        "--index",
        envvar="CSTOQA_INDEX",
        help="Folder of the index, or a Milvus store: milvus:./milvus.db or milvus:http://host:19530.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    sys.exit(1)


def _open(corpus: Path, index: str | Path):  # type: ignore[no-untyped-def]
    from cstoqa.assistant import Assistant

    return Assistant.open(corpus_dir=corpus, index_dir=index)


def _format_report(report: IndexReport) -> str:
    lines = [
        f"documents: {len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged, {len(report.skipped)} skipped",
        f"chunks embedded: {report.chunks_embedded} (index holds {report.total_chunks} chunks in "
        f"{report.total_documents} documents){' — full rebuild' if report.rebuilt else ''}",
        f"time: {report.seconds:.2f} s",
    ]
    lines += [f"  skipped {s.path}: {s.reason}" for s in report.skipped]
    return "\n".join(lines)


def _format_passages(passages: list[Passage]) -> str:
    out = []
    for i, p in enumerate(passages, start=1):
        out.append(
            f"[{i}] {p.doc_id} § {p.section} [{p.start}:{p.end}] score={p.score:.4f} "
            f"dense#{p.dense_rank} bm25#{p.lexical_rank}"
        )
        out.append("    " + " ".join(p.text.split())[:400])
    return "\n".join(out)


def _format_answer(answer: Answer) -> str:
    if answer.abstained:
        lines = [answer.message, "", "Closest passages:", _format_passages(answer.passages)]
        return "\n".join(lines)
    lines = [answer.text or "", f"(confidence {answer.confidence:.2f})", ""]
    for i, c in enumerate(answer.citations, start=1):
        lines.append(f"[{i}] {c.doc_id} § {c.section} [{c.start}:{c.end}]: {c.quote}")
    return "\n".join(lines)


@app.command()
def index(
    corpus: CorpusOpt = Path("corpus"),
    index: IndexOpt = "index",
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Re-embed everything.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build or refresh the index: only new or changed documents are embedded."""
    from cstoqa.embedding import SentenceTransformerEmbedder
    from cstoqa.indexing import reindex
    from cstoqa.settings import Settings

    settings = Settings()
    report, _ = reindex(corpus, index, settings, SentenceTransformerEmbedder(settings.model_name), rebuild=rebuild)
    typer.echo(report.model_dump_json(indent=2) if as_json else _format_report(report))


@app.command()
def search(
    question: str,
    corpus: CorpusOpt = Path("corpus"),
    index: IndexOpt = "index",
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Passages to return.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Retrieve the passages that best match QUESTION."""
    passages = _open(corpus, index).search(question, top_k=top_k)
    if as_json:
        typer.echo(json.dumps([p.model_dump() for p in passages], indent=2, ensure_ascii=False))
    else:
        typer.echo(_format_passages(passages) if passages else "no passage matches")


@app.command()
def ask(question: str, corpus: CorpusOpt = Path("corpus"), index: IndexOpt = "index", as_json: JsonOpt = False) -> None:
    """Answer QUESTION from the documents, with citations, or say the sources don't."""
    answer = _open(corpus, index).ask(question)
    typer.echo(answer.model_dump_json(indent=2) if as_json else _format_answer(answer))


def main() -> None:
    try:
        app()
    except CstoqaError as exc:
        _fail(str(exc))
    except OSError as exc:  # a folder that is a file, a full disk, no permission: the system's words, no traceback
        _fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


@app.command("eval")
def evaluate(
    dataset: Annotated[Path | None, typer.Option("--dataset", help="JSONL file of questions and gold answers.")] = None,
    squad: Annotated[
        Path | None, typer.Option("--squad", help="SQuAD v2.0 JSON: its paragraphs become the corpus.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for predictions, metrics and report.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Ask only the first N questions.")] = None,
    corpus: CorpusOpt = Path("corpus"),
    index: IndexOpt = "index",
    as_json: JsonOpt = False,
) -> None:
    """Score answers, retrieval, citations and abstention on a question set, beside two baselines."""
    import tempfile

    from cstoqa.evaluation import datasets, report, runner
    from cstoqa.index.stores import MILVUS_PREFIX

    if (dataset is None) == (squad is None):
        _fail("give exactly one of --dataset FILE or --squad FILE")
    with tempfile.TemporaryDirectory(prefix="cstoqa-eval-") as tmp:
        if squad is not None:
            corpus = Path(tmp) / "corpus"
            index = index if index.startswith(MILVUS_PREFIX) else str(Path(tmp) / "index")
            items = datasets.load_squad(squad, corpus)
        else:
            items = datasets.load_jsonl(dataset)  # type: ignore[arg-type]
        items = items[:limit] if limit else items
        assistant = _open(corpus, index)
        preds = runner.run(assistant, items)
        metrics = runner.summarize(preds, assistant.settings.abstain_threshold)
    if out is not None:
        report.write(out, preds, metrics, title=str(squad or dataset))
    typer.echo(json.dumps(metrics, indent=2) if as_json else report.summary(metrics))


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", envvar="CSTOQA_HOST", help="Address to listen on; loopback unless told otherwise.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="CSTOQA_PORT", min=1, max=65535, help="Port.")] = 7860,
    corpus: CorpusOpt = Path("corpus"),
    index: IndexOpt = "index",
    data: Annotated[
        Path | None,
        typer.Option("--data", envvar="CSTOQA_DATA", help="Folder for feedback.jsonl (default data/)."),
    ] = None,
    watch: Annotated[bool, typer.Option("--watch/--no-watch", help="Reindex when corpus files change.")] = True,
) -> None:
    """Start the chat page (building the index on first run). Login: CSTOQA_AUTH=user:password."""
    import os

    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from cstoqa.chat.server import serve as serve_page

    serve_page(corpus, index, host=host, port=port, data=data, watch=watch, echo=lambda m: typer.echo(m, err=True))
