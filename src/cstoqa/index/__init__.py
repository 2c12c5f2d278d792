"""Stage 3: chunks → embeddings and BM25 in a persistent, atomically swapped index folder."""
