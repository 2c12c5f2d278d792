"""Fine-tune all-MiniLM-L6-v2 into a SQuAD 2.0 reader on the CPU: seeded, checkpointed, resumable.

Recipe (README of ``weights/``): windows of at most 256 tokens with a 96-token stride; every answerable
question also yields a hard negative for a share of questions — the BM25-nearest other paragraph of its
article, labelled no-answer — so that the no-answer score learns "this passage does not say", which is what
an open corpus asks of it (Clark and Gardner 2018 train with retrieved non-gold paragraphs for the same
reason). A few articles are held out to choose the epoch; the public SQuAD split stays the test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from cstoqa.reader.gold import score
from cstoqa.reader.model import load_model, load_tokenizer, pad, trained_tensors
from cstoqa.reader.windows import MAX_LENGTH, STRIDE, Window, make_windows, token_span
from cstoqa.squad import Example, load_examples


class TrainConfig(BaseModel):
    data: Path
    out: Path
    init: Path | None = Field(default=None, description="Start from these reader weights (another pass, new schedule).")
    seed: int = 13
    epochs: float = Field(default=2.0, gt=0)
    learning_rate: float = Field(default=1e-4, gt=0)
    batch_size: int = Field(default=32, gt=0)
    warmup: float = Field(default=0.06, ge=0, lt=1)
    weight_decay: float = 0.01
    max_length: int = MAX_LENGTH
    stride: int = STRIDE
    negative_share: float = Field(default=0.5, ge=0, le=1, description="Answerable questions given a hard negative.")
    heldout_articles: int = Field(default=4, ge=0)
    article_share: float = Field(
        default=1.0, gt=0, le=1, description="Train on a seeded share of the training articles (learning curves)."
    )
    checkpoint_every: int = Field(default=100, gt=0, description="Steps between checkpoints.")
    max_steps: int | None = Field(default=None, description="Stop early (tests, smoke runs).")
    threads: int | None = None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def heldout_split(n_articles: int, heldout: int, seed: int) -> set[int]:
    return set(random.Random(seed).sample(range(n_articles), heldout)) if heldout else set()


def training_articles(n_articles: int, heldout: set[int], share: float, seed: int) -> set[int]:
    """A seeded share of the articles not held out; smaller shares are subsets of larger ones, so that a learning
    curve adds data rather than swapping it."""
    articles = [a for a in range(n_articles) if a not in heldout]
    random.Random(seed).shuffle(articles)
    return set(articles[: max(1, round(share * len(articles)))])


def hard_negatives(examples: list[Example], paragraphs: list[list[str]], share: float, seed: int) -> list[Example]:
    """For a seeded share of answerable questions, the BM25-nearest paragraph of the same article that holds
    none of the gold answers, as a no-answer example."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    rng = random.Random(seed)
    by_article: dict[int, list[Example]] = {}
    for ex in examples:
        if ex.answers and rng.random() < share:
            by_article.setdefault(ex.article, []).append(ex)
    negatives = []
    for a, chosen in by_article.items():
        texts = paragraphs[a]
        retriever = bm25s.BM25()
        retriever.index(
            bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False
        )
        k = min(4, len(texts))
        tokens = bm25s.tokenize([ex.question for ex in chosen], stopwords="en", stemmer=stemmer, show_progress=False)
        rows, _ = retriever.retrieve(tokens, k=k, show_progress=False, n_threads=0)
        for ex, ranked in zip(chosen, rows, strict=True):
            for row in ranked:
                text = texts[int(row)]
                if text != ex.context and not any(g.lower() in text.lower() for g in ex.answers):
                    negatives.append(
                        Example(id=f"{ex.id}-neg", article=a, question=ex.question, context=text, answers=[])
                    )
                    break
    return negatives


def labelled_windows(
    tokenizer: Any, examples: list[Example], max_length: int, stride: int
) -> list[tuple[Window, int, int]]:
    """Every window of every example with its start/end label ((0, 0) where it holds no answer)."""
    out = []
    for i in range(0, len(examples), 512):
        part = examples[i : i + 512]
        windows = make_windows(tokenizer, [e.question for e in part], [e.context for e in part], max_length, stride)
        for w in windows:
            ex = part[w.context]
            if ex.answer_start is None or ex.answer_text is None:
                out.append((w, 0, 0))
            else:
                out.append((w, *token_span(w, ex.answer_start, ex.answer_start + len(ex.answer_text))))
    return out


def batch_order(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Length-bucketed batches (little padding) in a seeded random order: shuffle, sort within pools of
    50 batches, cut, shuffle the batches."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda k: lengths[k])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _log(out: Path, record: dict[str, Any]) -> None:
    with (out / "train_log.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def train(config: TrainConfig) -> dict[str, Any]:
    """Train, checkpointing every ``checkpoint_every`` steps; rerunning with the same ``out`` resumes."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    config.out.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)

    examples, paragraphs = load_examples(config.data)
    heldout = heldout_split(len(paragraphs), config.heldout_articles, config.seed)
    kept = training_articles(len(paragraphs), heldout, config.article_share, config.seed)
    train_examples = [e for e in examples if e.article in kept]
    dev_examples = [e for e in examples if e.article in heldout]
    train_examples += hard_negatives(train_examples, paragraphs, config.negative_share, config.seed)
    tokenizer = load_tokenizer()
    windows = labelled_windows(tokenizer, train_examples, config.max_length, config.stride)
    lengths = [len(w.input_ids) for w, _, _ in windows]
    steps_per_epoch = -(-len(windows) // config.batch_size)
    total_steps = int(steps_per_epoch * config.epochs)
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    torch.manual_seed(config.seed)
    model = load_model(weights=config.init)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup * total_steps), total_steps)
    step = 0
    checkpoint = config.out / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = state["step"]
        torch.set_rng_state(state["torch_rng"])
    _log(
        config.out,
        {
            "event": "start" if step == 0 else "resume",
            "step": step,
            "total_steps": total_steps,
            "train_examples": len(train_examples),
            "windows": len(windows),
            "heldout_articles": sorted(heldout),
            "dev_examples": len(dev_examples),
            "config": json.loads(config.model_dump_json()),
            "data_sha256": sha256(config.data),
        },
    )
    model.train()
    started, seen, loss_sum, loss_n = time.perf_counter(), 0, 0.0, 0
    while step < total_steps:
        epoch = step // steps_per_epoch
        order = batch_order(lengths, config.batch_size, config.seed + epoch)
        for b in range(step % steps_per_epoch, len(order)):
            if step >= total_steps:
                break
            chosen = [windows[k] for k in order[b]]
            inputs = pad([w for w, _, _ in chosen])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                result = model(
                    **inputs,
                    start_positions=torch.tensor([s for _, s, _ in chosen]),
                    end_positions=torch.tensor([e for _, _, e in chosen]),
                )
            result.loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            seen += len(chosen)
            loss_sum += float(result.loss.detach())
            loss_n += 1
            if step % 20 == 0:
                elapsed = time.perf_counter() - started
                _log(
                    config.out,
                    {
                        "step": step,
                        "loss": round(loss_sum / loss_n, 4),
                        "windows_per_s": round(seen / elapsed, 2),
                        "lr": scheduler.get_last_lr()[0],
                    },
                )
                loss_sum, loss_n = 0.0, 0
            if step % config.checkpoint_every == 0 or step == total_steps:
                _save_checkpoint(model, optimizer, scheduler, step, checkpoint)
            if step % steps_per_epoch == 0 or step == total_steps:
                _finish_epoch(model, tokenizer, dev_examples, config, step, steps_per_epoch)
    return {"steps": step, "windows": len(windows)}


def _save_checkpoint(model: Any, optimizer: Any, scheduler: Any, step: int, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "torch_rng": torch.get_rng_state(),
        },
        tmp,
    )
    tmp.replace(path)


def _finish_epoch(
    model: Any, tokenizer: Any, dev: list[Example], config: TrainConfig, step: int, steps_per_epoch: int
) -> None:
    """Score the held-out articles and keep this step's weights beside the others, so the best is chosen."""
    from safetensors.torch import save_file

    model.eval()
    scores = score(model, tokenizer, dev) if dev else {}
    model.train()
    name = f"reader-step{step}.safetensors"
    save_file(trained_tensors(model), str(config.out / name))
    _log(
        config.out,
        {"event": "evaluated", "step": step, "epoch": round(step / steps_per_epoch, 2), "weights": name, **scores},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Fine-tune the cstoqa reader on SQuAD-format data.")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--init", type=Path, default=None)
    for name, field in TrainConfig.model_fields.items():
        if name in ("data", "out", "init"):
            continue
        kind = {int: int, float: float}.get(type(field.default), float if name == "epochs" else int)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=field.default)
    args = parser.parse_args()
    config = TrainConfig(**{k.replace("-", "_"): v for k, v in vars(args).items()})
    print(json.dumps(train(config)))


if __name__ == "__main__":
    main()
