"""Where an index lives: the seam that lets one indexing stage and one retrieval stage use any store.

``open_store("index")`` is the folder store (the default); ``open_store("milvus:./milvus.db")`` or
``open_store("milvus:http://host:19530")`` is Milvus (the ``milvus`` extra), its token read from
``CSTOQA_MILVUS_TOKEN``.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from cstoqa.errors import CstoqaError
from cstoqa.index.manifest import Manifest
from cstoqa.index.store import FolderStore, IndexData, IndexTables

MILVUS_PREFIX = "milvus:"


class IndexStore(Protocol):
    """A store keeps generations of an index and switches readers to a new one atomically.

    ``read_manifest`` raises IndexMissingError (nothing built yet), IndexOutdatedError (another format) or
    IndexCorruptError (damage); ``save`` leaves the old generation current until the new one is complete.
    """

    @property
    def local_path(self) -> Path | None:
        """The folder or file on this machine that holds the index, if any (the corpus watcher ignores it)."""
        ...

    def describe(self) -> str:
        """Where the index is, for messages; never a secret."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Held by a reindex; raises IndexBusyError when another holds it."""
        ...

    def current(self) -> str | None:
        """The live generation's name, cheaply, so a server notices another process's reindex; None before any."""
        ...

    def read_manifest(self) -> Manifest: ...

    def verify(self, manifest: Manifest) -> None: ...

    def remove_leftovers(self) -> None:
        """Delete what a killed reindex left; called under the lock."""
        ...

    def load(self) -> IndexData: ...

    def save(self, tables: IndexTables, approximate_above: int) -> IndexData: ...


def open_store(spec: str | os.PathLike[str] | IndexStore) -> IndexStore:
    if not isinstance(spec, str | os.PathLike):
        return spec
    text = os.fspath(spec)
    if text.startswith(MILVUS_PREFIX):
        try:
            from cstoqa.index.milvus import MilvusStore
        except ImportError as exc:
            raise CstoqaError(f"the Milvus store is not available here ({exc}); use a folder for --index") from exc
        store: IndexStore = MilvusStore.connect(text.removeprefix(MILVUS_PREFIX))
        return store
    return FolderStore(Path(text))
