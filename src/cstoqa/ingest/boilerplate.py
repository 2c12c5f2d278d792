"""Recognise lines of web residue ("See also …", share buttons) so they are never chunked or cited."""

from __future__ import annotations

import re
from collections.abc import Sequence


class BoilerplateFilter:
    def __init__(self, patterns: Sequence[str]) -> None:
        self._patterns = [re.compile(p, re.IGNORECASE) for p in patterns]

    def is_boilerplate(self, line: str) -> bool:
        return any(p.search(line) for p in self._patterns)
