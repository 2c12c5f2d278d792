"""Stage 5a: the reader seam — a question and retrieved passages in, the best span of each passage out.

The real reader (``model.TransformerReader``) loads torch on first use; tests inject a fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cstoqa.types import Passage, ReadSpan


class Reader(Protocol):
    name: str

    def read(self, question: str, passages: Sequence[Passage]) -> list[ReadSpan]:
        """At most one span per passage (its best), in document offsets, with the passage's no-answer score."""
        ...
