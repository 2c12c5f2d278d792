"""Evaluation: SQuAD-style answer metrics, retrieval hit@k, abstention and citation checks, baselines."""
