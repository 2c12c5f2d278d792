"""Stage 5: retrieved passages → an extractive answer with citations, or an honest abstention."""
