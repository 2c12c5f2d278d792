"""Evaluation sets: our JSONL format, and SQuAD v2.0 JSON turned into a corpus plus questions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from cstoqa.errors import CstoqaError


class EvalItem(BaseModel):
    id: str
    question: str
    answers: list[str]
    kind: Literal["factoid", "descriptive", "list", "unanswerable"] = "factoid"
    group: str | None = Field(
        default=None, description="A subset reported on its own: the SQuAD article, or the batch of a question set."
    )

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_jsonl(path: Path) -> list[EvalItem]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CstoqaError(f"cannot read the dataset {path}: {exc.strerror or exc}") from exc
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(EvalItem.model_validate_json(line))
        except ValidationError as exc:
            raise CstoqaError(f"{path}:{number} is not a valid question record: {exc.errors()[0]['msg']}") from exc
    return items


def load_squad(path: Path, corpus_dir: Path, articles: set[int] | None = None) -> list[EvalItem]:
    """Write each paragraph as a Markdown file under its article's title; return the questions."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError) as exc:
        raise CstoqaError(f"{path} is not a readable SQuAD v2.0 JSON file ({exc})") from exc
    items = []
    for a, article in enumerate(data):
        if articles is not None and a not in articles:
            continue
        title = article["title"].replace("_", " ")
        folder = corpus_dir / re.sub(r"[^\w.-]+", "_", article["title"])
        folder.mkdir(parents=True, exist_ok=True)
        for p, paragraph in enumerate(article["paragraphs"]):
            (folder / f"{p:03d}.md").write_text(f"# {title}\n\n{paragraph['context']}\n", encoding="utf-8")
            for qa in paragraph["qas"]:
                golds = [] if qa.get("is_impossible") else sorted({x["text"] for x in qa["answers"]})
                items.append(
                    EvalItem(
                        id=qa["id"],
                        question=qa["question"],
                        answers=golds,
                        kind="unanswerable" if not golds else "factoid",
                        group=title,
                    )
                )
    return items
