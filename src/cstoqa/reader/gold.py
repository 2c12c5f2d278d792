"""The reader alone on each question's own paragraph: the standard SQuAD 2.0 figure, and the held-out score
that chooses the training epoch.

    python -m cstoqa.reader.gold ../shared/squad2/dev_public.json --threshold 0.0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from cstoqa.reader.model import WEIGHTS_FILE, load_model, load_tokenizer, read_windows
from cstoqa.reader.windows import make_windows
from cstoqa.squad import Example, exact_match, f1_score, load_examples


def score(model: Any, tokenizer: Any, examples: list[Example], threshold: float | None = None) -> dict[str, float]:
    """Answerable F1 with every question answered; EM/F1 at the best no-answer threshold on the span-minus-null
    margin (an oracle: for choosing) and, when given, at ``threshold`` (a fixed one: for reporting)."""
    windows = make_windows(tokenizer, [e.question for e in examples], [e.context for e in examples])
    best: dict[int, tuple[float, str]] = {}
    for window, start, end, span_score, null in read_windows(model, windows, batch=64):
        margin = span_score - null
        if window.context not in best or margin > best[window.context][0]:
            best[window.context] = (margin, examples[window.context].context[start:end])
    margins = np.array([best.get(i, (-np.inf, ""))[0] for i in range(len(examples))])
    texts = [best.get(i, (0.0, ""))[1] for i in range(len(examples))]

    def at(t: float) -> tuple[float, float]:
        answers = [texts[i] if margins[i] >= t else None for i in range(len(examples))]
        em = float(np.mean([exact_match(a, e.answers) for a, e in zip(answers, examples, strict=True)]))
        f1 = float(np.mean([f1_score(a, e.answers) for a, e in zip(answers, examples, strict=True)]))
        return em, f1

    answerable = [i for i, e in enumerate(examples) if e.answers]
    thresholds = np.unique(np.concatenate([margins[np.isfinite(margins)], [np.inf]]))
    curve = [at(float(t))[1] for t in thresholds]
    k = int(np.argmax(curve))
    result = {
        "questions": float(len(examples)),
        "answerable_f1_full_coverage": float(np.mean([f1_score(texts[i], examples[i].answers) for i in answerable])),
        "best_overall_f1": curve[k],
        "best_margin_threshold": float(thresholds[k]),
        "always_abstain_f1": float(np.mean([not e.answers for e in examples])),
    }
    if threshold is not None:
        result["exact_match"], result["f1"] = at(threshold)
        result["threshold"] = threshold
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("squad", type=Path)
    parser.add_argument("--weights", type=Path, default=WEIGHTS_FILE)
    parser.add_argument("--threshold", type=float, default=0.0, help="margin threshold chosen on held-out data")
    args = parser.parse_args()
    examples, _ = load_examples(args.squad)
    print(json.dumps(score(load_model(args.weights), load_tokenizer(), examples, args.threshold), indent=2))


if __name__ == "__main__":
    main()
