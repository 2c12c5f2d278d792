"""cstoqa: extractive question answering over a document collection, with checkable citations.

Importing the package is cheap: torch, spaCy and gradio load only when a stage first needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cstoqa.assistant import Assistant

__all__ = ["Assistant", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from cstoqa.assistant import Assistant

        return Assistant
    raise AttributeError(f"module 'cstoqa' has no attribute {name!r}")
