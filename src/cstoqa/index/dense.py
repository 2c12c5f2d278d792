"""FAISS inner-product search over unit vectors: exact below a size threshold, HNSW above it."""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


def build(vectors: np.ndarray, approximate_above: int) -> faiss.Index:
    """Built on every core; ``search`` then goes back to one thread."""
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else 1
    index: faiss.Index
    if len(vectors) > approximate_above:
        index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def kind(index: faiss.Index) -> str:
    return "hnsw" if isinstance(index, faiss.IndexHNSWFlat) else "flat"


def save(index: faiss.Index, path: Path) -> None:
    faiss.write_index(index, str(path))


def load(path: Path) -> faiss.Index:
    index = faiss.read_index(str(path))
    if isinstance(index, faiss.IndexHNSWFlat):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def search(index: faiss.Index, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(row, cosine) pairs, best first.

    One OpenMP thread: for a single query FAISS's thread team costs more than it saves, and on a
    busy machine it waits for the other core (bench/README.md, scale).
    """
    faiss.omp_set_num_threads(1)
    k = min(k, index.ntotal)
    if k <= 0:
        return []
    scores, rows = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
