"""Stage 1: files in the corpus folder → Documents with sections and paragraphs."""

from cstoqa.ingest.corpus import SourceFile, iter_sources, load_document

__all__ = ["SourceFile", "iter_sources", "load_document"]
