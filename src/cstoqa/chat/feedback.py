"""Thumbs up/down on answers, appended to a JSONL file so real questions can grow the evaluation set.

One line per vote: when, which way, the question as typed and as asked, the answer, its confidence and its
citations (document, section, offsets and quote). Nothing else is written: no user name, address, header or
environment value, so the file can be shared with whoever curates the evaluation set.

The file lives in a data folder (``data/`` or ``$CSTOQA_DATA``), never in the corpus or the index: feedback
written into the corpus would be picked up by the watcher and reindexed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cstoqa.errors import CstoqaError
from cstoqa.types import Answer

DATA_ENV = "CSTOQA_DATA"
FEEDBACK_FILE = "feedback.jsonl"
CITATION_FIELDS = ("doc_id", "title", "section", "start", "end", "quote", "answer_start", "answer_end")


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(DATA_ENV) or "data")


def answer_summary(answer: Answer) -> dict[str, Any]:
    """The answer as plain JSON data, without the retrieved passages (citations carry the evidence)."""
    return {
        "text": answer.text,
        "abstained": answer.abstained,
        "confidence": round(answer.confidence, 4),
        "kind": answer.kind,
        "message": answer.message,
        "citations": [c.model_dump(mode="json") for c in answer.citations],
    }


def vote_name(liked: object) -> str:
    """Gradio's LikeData.liked: True, False, or "" when the user takes the vote back."""
    if liked is True or liked == "Like":
        return "up"
    if liked is False or liked == "Dislike":
        return "down"
    if liked in ("", None):
        return "withdrawn"
    return str(liked)[:40]  # a custom feedback option


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


class FeedbackLog:
    """Appends votes to ``path``; safe to call from the server's worker threads."""

    def __init__(self, path: Path, keep_out_of: Sequence[Path] = ()) -> None:
        for folder in keep_out_of:
            if _inside(path, folder):
                raise CstoqaError(
                    f"the feedback file {path} would be inside {folder}; point ${DATA_ENV} at a data folder "
                    "outside the corpus and the index"
                )
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, folder: Path | None = None, keep_out_of: Sequence[Path] = ()) -> FeedbackLog:
        return cls((folder or data_dir()) / FEEDBACK_FILE, keep_out_of)

    def record(
        self,
        vote: str,
        question: str,
        answer: Mapping[str, Any],
        asked: str | None = None,
        index_built_at: str | None = None,
    ) -> dict[str, Any]:
        """Append one vote and return the record written; the line is flushed and fsynced before returning."""
        row: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "vote": vote,
            "question": question,
            "asked": asked if asked is not None else question,
            "answer": answer.get("text"),
            "abstained": bool(answer.get("abstained")),
            "confidence": answer.get("confidence"),
            "kind": answer.get("kind"),
            "citations": [{k: c.get(k) for k in CITATION_FIELDS} for c in answer.get("citations", [])],
            "index_built_at": index_built_at,
        }
        line = json.dumps(row, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
                    fh.flush()
                    os.fsync(fh.fileno())
        except OSError as exc:
            raise CstoqaError(f"could not save feedback to {self.path}: {exc.strerror or exc}") from exc
        return row

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
