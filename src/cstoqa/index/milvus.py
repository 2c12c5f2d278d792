"""The Milvus store: one index that several chat servers read and one indexer writes (the ``milvus`` extra).

A generation is three collections: ``{gen}_chunks`` (chunk text, document id and hash, offsets, section, the
dense vector, and Milvus' own BM25 over the terms our analyser makes), ``{gen}_sentences`` (sentence text,
offsets and vectors) and ``{gen}_documents`` (each document and the manifest, as JSON in parts). The alias
``cstoqa`` names the live ``{gen}_chunks``: a reindex writes a whole new generation, then moves the alias
(``alter_alias``), so a reader sees the old generation or the new one, never half of one. A reindex killed
before the switch leaves collections that no alias names; the next reindex drops them.

The same code talks to an embedded Milvus Lite file (``milvus:./milvus.db``) and to a Milvus Standalone or
Distributed server (``milvus:http://host:19530``, token from ``CSTOQA_MILVUS_TOKEN``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import grpc
import numpy as np
from pydantic import ValidationError
from pymilvus import DataType, Function, FunctionType, MilvusClient
from pymilvus.exceptions import MilvusException

from cstoqa.chunking import embedding_text
from cstoqa.errors import CstoqaError, IndexCorruptError, IndexMissingError, IndexOutdatedError
from cstoqa.index import dense, lexical
from cstoqa.index.manifest import FORMAT_VERSION, Manifest
from cstoqa.index.store import IndexData, IndexTables, reindex_lock
from cstoqa.types import Chunk, Document, Sentence

ALIAS = "cstoqa"
PREFIX = "cstoqa_"
TOKEN_ENV = "CSTOQA_MILVUS_TOKEN"
PREVIOUS = "cstoqa.previous"
TABLES = ("chunks", "sentences", "documents")
GENERATION = re.compile(rf"({PREFIX}\d{{8}}T\d{{6}}_[0-9a-f]{{8}})_(?:{'|'.join(TABLES)})")
MAX_TEXT = 65_535  # bytes in a Milvus VARCHAR
PART_CHARS = 16_000  # ≤ 4 bytes a character keeps a part inside one VARCHAR
BATCH = 1_000
NOT_LOADED = 101  # Milvus' code for a collection that is not loaded (released on restart)
CALL_SECONDS = 10.0  # per call: pymilvus otherwise retries an unreachable server for minutes
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}  # bm25s' defaults, so both stores rank alike

log = logging.getLogger(__name__)
for _name in ("pymilvus", "milvus_lite"):  # their logs would print what we report in one line
    logging.getLogger(_name).setLevel(logging.CRITICAL)


@contextmanager
def _reported(where: str) -> Iterator[None]:
    """Milvus' errors, and the gRPC ones pymilvus passes on (refused token, deadline), become one line."""
    try:
        yield
    except MilvusException as exc:
        raise CstoqaError(f"Milvus at {where}: {' '.join(str(exc.message).split())} (code {exc.code})") from exc
    except grpc.RpcError as exc:
        detail = " ".join(str(exc.details() if hasattr(exc, "details") else exc).split())
        code = exc.code().name if hasattr(exc, "code") else "RPC"
        raise CstoqaError(f"Milvus at {where}: {detail} ({code})") from exc


def _shown(target: str) -> str:
    """The address without any user:password in it, for messages."""
    parts = urlsplit(target)
    if parts.username is None and parts.password is None:
        return target
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}{f':{parts.port}' if parts.port else ''}"))


def bm25_terms(texts: list[str]) -> list[str]:
    """Our stemmed, stop-worded terms, space-joined: Milvus' standard analyser then splits them as we did."""
    return [" ".join(tokens) for tokens in lexical.tokenize(texts)]


def _parts(text: str) -> list[str]:
    return [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]


def _chunk_schema(dimension: int) -> Any:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("chunk_id", DataType.VARCHAR, max_length=128)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("doc_hash", DataType.VARCHAR, max_length=128)
    schema.add_field("title", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("section", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("sentence_ids", DataType.JSON)
    schema.add_field("terms", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"]
        )
    )
    return schema


def _sentence_schema(dimension: int) -> Any:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("section", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    return schema


def _document_schema() -> Any:
    """Documents and the manifest as JSON in parts; Milvus wants a vector in every collection, so a 2-d zero."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=MAX_TEXT)
    schema.add_field("kind", DataType.VARCHAR, max_length=16)
    schema.add_field("name", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("part", DataType.INT64)
    schema.add_field("body", DataType.VARCHAR, max_length=MAX_TEXT)
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    return schema


Index = tuple[str, str, str, dict[str, Any]]  # field, index type, metric, parameters


def _vector_index(rows: int, approximate_above: int) -> Index:
    """Exact (FLAT) up to ``approximate_above`` rows, HNSW with FAISS' settings beyond: one threshold, both stores."""
    if rows > approximate_above:
        return ("vector", "HNSW", "IP", {"M": dense.HNSW_NEIGHBOURS, "efConstruction": dense.HNSW_EF_CONSTRUCTION})
    return ("vector", "FLAT", "IP", {})


BM25_INDEX: Index = ("sparse", "SPARSE_INVERTED_INDEX", "BM25", {"params": BM25_PARAMS})  # Lite reads nested params
UNUSED_INDEX: Index = ("unused", "FLAT", "L2", {})


@dataclass
class MilvusSearcher:
    """The three searches, run by Milvus on one generation's collections (never the alias, so rows match)."""

    client: MilvusClient
    where: str
    chunks_collection: str
    sentences_collection: str

    def _search(self, collection: str, field: str, query: Any, k: int) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        params = {"params": {"ef": max(dense.HNSW_EF_SEARCH, k)}} if field == "vector" else {}
        with _reported(self.where):
            try:
                hits = self._run(collection, field, query, k, params)
            except MilvusException as exc:
                if exc.code != NOT_LOADED:
                    raise
                self.client.load_collection(collection, timeout=CALL_SECONDS)  # Milvus restarted since we loaded
                hits = self._run(collection, field, query, k, params)
        return [(int(hit["entity"]["row"]), float(hit["distance"])) for hit in hits[0]]

    def _run(self, collection: str, field: str, query: Any, k: int, params: dict[str, Any]) -> Any:
        return self.client.search(
            collection,
            data=[query],
            anns_field=field,
            limit=k,
            output_fields=["row"],
            search_params=params,
            timeout=CALL_SECONDS,
        )

    def chunks_by_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return self._search(self.chunks_collection, "vector", vector.astype(np.float32).tolist(), k)

    def chunks_by_words(self, text: str, k: int) -> list[tuple[int, float]]:
        """Milvus Lite reports BM25 as a negative distance, a server as a positive score: the size is the score."""
        terms = bm25_terms([text])[0]
        if not terms:
            return []
        hits = self._search(self.chunks_collection, "sparse", terms, k)
        return [(row, abs(score)) for row, score in hits if score != 0]

    def sentences_by_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return self._search(self.sentences_collection, "vector", vector.astype(np.float32).tolist(), k)


class MilvusStore:
    """The ``IndexStore`` of one Milvus database: a Milvus Lite file here or a server by URI."""

    def __init__(self, client: MilvusClient, target: str, local: Path | None) -> None:
        self.client = client
        self.target = target
        self.local = local
        self._loaded: set[str] = set()

    @classmethod
    def connect(cls, target: str, timeout: float = 5.0) -> MilvusStore:
        """``target`` is a URI (``http://host:19530``) or a Milvus Lite file; the token never reaches a message."""
        if not target:
            raise CstoqaError("say which Milvus to use: milvus:./milvus.db or milvus:http://host:19530")
        local = None if "://" in target else Path(target).resolve()
        if local is not None:
            local.parent.mkdir(parents=True, exist_ok=True)
        token = os.environ.get(TOKEN_ENV, "")
        shown = _shown(target)
        try:
            with _reported(shown):
                client = MilvusClient(uri=str(local or target), token=token, timeout=timeout)
                client.list_collections()  # a wrong token shows here rather than at the first question
        except CstoqaError as exc:
            if local is None:
                raise
            share = f"`milvus-lite server --data-dir {local}` and milvus:http://127.0.0.1:19530"
            raise CstoqaError(f"{exc}; a Milvus Lite file serves one process at a time: share it with {share}") from exc
        return cls(client, shown, local)

    @property
    def local_path(self) -> Path | None:
        return self.local

    def describe(self) -> str:
        return f"milvus:{self.target}"

    def _lock_file(self) -> Path:
        """Beside a Lite file; for a server, per machine: one indexer per Milvus is the deployment rule."""
        if self.local is not None:
            return self.local.with_name(self.local.name + ".lock")
        name = hashlib.sha256(self.target.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"cstoqa-milvus-{name}.lock"

    @contextmanager
    def lock(self) -> Iterator[None]:
        with reindex_lock(self._lock_file(), self.describe()):
            yield

    def current(self) -> str | None:
        """The live generation, or None when no index was ever switched in."""
        with _reported(self.target):
            if ALIAS not in self.client.list_aliases(timeout=CALL_SECONDS).get("aliases", []):
                return None
            collection: str = self.client.describe_alias(ALIAS, timeout=CALL_SECONDS)["collection_name"]
        return collection.removesuffix("_chunks")

    def _current_or_raise(self) -> str:
        """The live generation, its collections loaded: Milvus keeps them released after a restart."""
        gen = self.current()
        if gen is None:
            raise IndexMissingError(f"no index in {self.describe()}; build one with `cstoqa index`")
        if gen not in self._loaded:
            try:
                with _reported(self.target):
                    for table in TABLES:
                        self.client.load_collection(f"{gen}_{table}")
            except CstoqaError as exc:
                raise IndexCorruptError(self.describe(), f"generation {gen} is incomplete: {exc}") from exc
            self._loaded.add(gen)
        return gen

    def _rows(self, collection: str, fields: list[str], where: str = "") -> Iterator[dict[str, Any]]:
        with _reported(self.target):
            iterator = self.client.query_iterator(collection, batch_size=4096, filter=where, output_fields=fields)
            try:
                while batch := iterator.next():
                    yield from batch
            finally:
                iterator.close()

    def _json(self, gen: str, kind: str) -> dict[str, str]:
        """Name → JSON text of every ``kind`` record of a generation, its parts joined in order."""
        parts: dict[str, dict[int, str]] = {}
        for row in self._rows(f"{gen}_documents", ["name", "part", "body"], f'kind == "{kind}"'):
            parts.setdefault(row["name"], {})[int(row["part"])] = row["body"]
        return {name: "".join(p[i] for i in sorted(p)) for name, p in parts.items()}

    def read_manifest(self) -> Manifest:
        return self._manifest_of(self._current_or_raise())

    def _manifest_of(self, gen: str) -> Manifest:
        try:
            raw = json.loads(self._json(gen, "manifest")["manifest"])
        except (KeyError, ValueError) as exc:
            raise IndexCorruptError(self.describe(), "the manifest is missing or unreadable") from exc
        except CstoqaError as exc:
            raise IndexCorruptError(self.describe(), f"generation {gen} is incomplete: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("format_version") != FORMAT_VERSION:
            found = raw.get("format_version") if isinstance(raw, dict) else None
            raise IndexOutdatedError(
                f"the index in {self.describe()} has format {found}, this cstoqa reads {FORMAT_VERSION}"
            )
        try:
            return Manifest.model_validate(raw)
        except ValidationError as exc:
            detail = f"the manifest is malformed: {exc.error_count()} bad fields"
            raise IndexCorruptError(self.describe(), detail) from exc

    def _count(self, collection: str, where: str = "") -> int:
        with _reported(self.target):
            rows = self.client.query(collection, filter=where, output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def verify(self, manifest: Manifest) -> None:
        self._verify_of(self._current_or_raise(), manifest)

    def _verify_of(self, gen: str, manifest: Manifest) -> None:
        """The row counts the manifest promises: a generation cut short or damaged on the server shows here."""
        try:
            found = (
                self._count(f"{gen}_chunks"),
                self._count(f"{gen}_sentences"),
                self._count(f"{gen}_documents", 'kind == "document" and part == 0'),
            )
        except CstoqaError as exc:
            raise IndexCorruptError(self.describe(), f"generation {gen} is incomplete: {exc}") from exc
        counts = manifest.counts
        if found != (counts.chunks, counts.sentences, counts.documents):
            raise IndexCorruptError(self.describe(), f"row counts {found} differ from the manifest's")

    def _generations(self) -> set[str]:
        with _reported(self.target):
            names = self.client.list_collections()
        return {m.group(1) for n in names if (m := GENERATION.fullmatch(n))}

    def _drop(self, gen: str) -> None:
        with _reported(self.target):
            for table in TABLES:
                self.client.drop_collection(f"{gen}_{table}")

    def _previous_of(self, gen: str) -> str:
        with _reported(self.target):
            properties = self.client.describe_collection(f"{gen}_chunks").get("properties", {})
        return str(properties.get(PREVIOUS, ""))

    def remove_leftovers(self) -> None:
        """Drop every generation but the live one and the one before it (a reader may still be loading that)."""
        current = self.current()
        keep = {current, self._previous_of(current)} if current else set()
        for gen in self._generations() - keep:
            self._drop(gen)

    def load(self) -> IndexData:
        """One generation throughout, even if the alias moves meanwhile."""
        gen = self._current_or_raise()
        manifest = self._manifest_of(gen)
        self._verify_of(gen, manifest)
        try:
            documents = {name: Document.model_validate_json(body) for name, body in self._json(gen, "document").items()}
            chunk_rows = sorted(self._rows(f"{gen}_chunks", [*Chunk.model_fields, "row", "vector"]), key=_row)
            sentence_rows = sorted(self._rows(f"{gen}_sentences", [*Sentence.model_fields, "row", "vector"]), key=_row)
            chunks = [Chunk.model_validate({k: r[k] for k in Chunk.model_fields}) for r in chunk_rows]
            sentences = [Sentence.model_validate({k: r[k] for k in Sentence.model_fields}) for r in sentence_rows]
        except (ValidationError, KeyError, ValueError) as exc:
            raise IndexCorruptError(self.describe(), f"{type(exc).__name__}: {exc}") from exc
        if [_row(r) for r in chunk_rows] != list(range(len(chunks))) or len(documents) != manifest.counts.documents:
            raise IndexCorruptError(self.describe(), "rows are missing from the chunk or document tables")
        return IndexData(
            manifest=manifest,
            documents=documents,
            chunks=chunks,
            sentences=sentences,
            chunk_vectors=_vectors(chunk_rows, manifest.dimension),
            sentence_vectors=_vectors(sentence_rows, manifest.dimension),
            searcher=MilvusSearcher(self.client, self.target, f"{gen}_chunks", f"{gen}_sentences"),
            generation=gen,
        )

    def save(self, tables: IndexTables, approximate_above: int) -> IndexData:
        """Write a whole new generation, then move the alias to it; the one before stays for readers mid-load."""
        previous = self.current()
        gen = f"{PREFIX}{time.strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:8]}"
        dimension = max(tables.manifest.dimension, 1)
        tables.manifest.dense_index = _vector_index(len(tables.chunks), approximate_above)[1].lower()
        with _reported(self.target):
            chunk_indexes = [_vector_index(len(tables.chunks), approximate_above), BM25_INDEX]
            self._create(f"{gen}_chunks", _chunk_schema(dimension), chunk_indexes, previous)
            sentence_index = _vector_index(len(tables.sentences), approximate_above)
            self._create(f"{gen}_sentences", _sentence_schema(dimension), [sentence_index])
            self._create(f"{gen}_documents", _document_schema(), [UNUSED_INDEX])
            self._insert(f"{gen}_chunks", _chunk_records(tables))
            self._insert(f"{gen}_sentences", _sentence_records(tables))
            self._insert(f"{gen}_documents", _document_records(tables))
            for table in TABLES:  # seal the segments: Milvus indexes sealed ones, and scans the rest per search
                self.client.flush(f"{gen}_{table}")
            if previous is None:
                self.client.create_alias(f"{gen}_chunks", ALIAS)
            else:
                self.client.alter_alias(f"{gen}_chunks", ALIAS)
        try:
            for old in self._generations() - {gen, previous}:
                self._drop(old)
        except CstoqaError as exc:  # the switch is done; the next reindex drops what is left
            log.warning("could not drop an old generation: %s", exc)
        searcher = MilvusSearcher(self.client, self.target, f"{gen}_chunks", f"{gen}_sentences")
        return IndexData(**vars(tables), searcher=searcher, generation=gen)

    def _create(self, name: str, schema: Any, indexes: list[Index], previous: str | None = None) -> None:
        params = self.client.prepare_index_params()
        for field, kind, metric, extra in indexes:
            params.add_index(field_name=field, index_type=kind, metric_type=metric, params=extra)
        properties = {PREVIOUS: previous} if previous else {}
        self.client.create_collection(
            name, schema=schema, index_params=params, consistency_level="Strong", properties=properties
        )

    def _insert(self, collection: str, records: Iterator[dict[str, Any]]) -> None:
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append(record)
            if len(batch) == BATCH:
                self.client.insert(collection, batch)
                batch = []
        if batch:
            self.client.insert(collection, batch)


def _row(record: dict[str, Any]) -> int:
    return int(record["row"])


def _vectors(records: list[dict[str, Any]], dimension: int) -> np.ndarray:
    if not records:
        return np.zeros((0, 0), dtype=np.float32)
    return np.asarray([r["vector"] for r in records], dtype=np.float32).reshape(len(records), dimension)


def _checked(record: dict[str, Any], where: str) -> dict[str, Any]:
    """Every text field within Milvus' VARCHAR limit, which counts bytes, or a message naming the row."""
    for name, value in record.items():
        if isinstance(value, str) and len(value.encode("utf-8")) > MAX_TEXT:
            raise CstoqaError(f"the {name} of {where} is longer than Milvus keeps in one field ({MAX_TEXT} bytes)")
    return record


def _chunk_records(tables: IndexTables) -> Iterator[dict[str, Any]]:
    hashes = {d.doc_id: d.content_hash for d in tables.documents.values()}
    terms = bm25_terms([embedding_text(c) for c in tables.chunks])
    for row, chunk in enumerate(tables.chunks):
        record = {**chunk.model_dump(), "row": row, "doc_hash": hashes[chunk.doc_id], "terms": terms[row]}
        yield _checked(record, f"chunk {row} of {chunk.doc_id}") | {"vector": tables.chunk_vectors[row].tolist()}


def _sentence_records(tables: IndexTables) -> Iterator[dict[str, Any]]:
    for row, sentence in enumerate(tables.sentences):
        record = _checked({**sentence.model_dump(), "row": row}, f"sentence {row} of {sentence.doc_id}")
        yield record | {"vector": tables.sentence_vectors[row].tolist()}


def _document_records(tables: IndexTables) -> Iterator[dict[str, Any]]:
    records = [("manifest", "manifest", tables.manifest.model_dump_json())]
    records += [("document", d.doc_id, d.model_dump_json()) for d in tables.documents.values()]
    for kind, name, body in records:
        for part, text in enumerate(_parts(body)):
            key = f"{kind}:{hashlib.sha256(name.encode()).hexdigest()}:{part}"
            record = {"key": key, "kind": kind, "name": name, "part": part, "body": text}
            yield _checked(record, f"{kind} {name}") | {"unused": [0.0, 0.0]}
