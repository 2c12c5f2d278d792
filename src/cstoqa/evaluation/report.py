"""Write predictions.jsonl, metrics.json and report.md (with a risk–coverage plot) for an evaluation run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cstoqa.evaluation.runner import Prediction, risk_coverage
from cstoqa.squad import f1_score


def _plot(preds: list[Prediction], threshold: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = risk_coverage(preds)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.plot([c for _, c, _ in points], [r for _, _, r in points], lw=1.5)
    chosen = [(c, r) for t, c, r in points if t >= threshold]
    if chosen:
        ax.scatter([chosen[-1][0]], [chosen[-1][1]], color="crimson", zorder=3, label=f"threshold {threshold:.2f}")
        ax.legend()
    ax.set_xlabel("coverage (share of questions answered)")
    ax.set_ylabel("risk (1 − mean F1 of answered)")
    ax.set_title("Risk–coverage")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _table(metrics: dict[str, Any]) -> str:
    rows = [("cstoqa", metrics), *metrics["baselines"].items()]
    lines = [
        "| system | overall EM | overall F1 | answerable F1 | answer recall | unanswerable abstained |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['overall']['exact_match']:.3f} | {m['overall']['f1']:.3f} | "
            f"{m['answerable']['f1']:.3f} | {m['answerable']['answer_recall']:.3f} | "
            f"{m['unanswerable']['abstained']:.3f} |"
        )
    return "\n".join(lines)


def summary(metrics: dict[str, Any]) -> str:
    """The headline figures, as Markdown that also reads well in a terminal; then each group's."""
    text = _summary(metrics)
    for name, group in metrics.get("by_group", {}).items():
        text += f"\n\n## Group: {name}\n\n" + _summary(group)
    return text


def _summary(metrics: dict[str, Any]) -> str:
    m, counts = metrics, metrics["counts"]
    full = m["answerable_every_question_answered"]
    return "\n".join(
        [
            f"{counts['questions']} questions ({counts['answerable']} answerable, {counts['unanswerable']} "
            f"unanswerable); abstention threshold {m['threshold']:.2f}.",
            "",
            _table(m),
            "",
            "By kind: "
            + ", ".join(
                f"{k} F1 {v['f1']:.3f} recall {v['answer_recall']:.3f} (every question answered: "
                f"{v['every_question_answered']['f1']:.3f} / {v['every_question_answered']['answer_recall']:.3f})"
                for k, v in m["by_kind"].items()
            )
            + ".",
            f"Retrieval: hit@1 {m['retrieval']['hit@1']:.3f}, hit@3 {m['retrieval']['hit@3']:.3f}, "
            f"hit@5 {m['retrieval']['hit@5']:.3f}, MRR {m['retrieval']['mrr']:.3f}.",
            f"Answerable questions with every question answered: EM {full['exact_match']:.3f}, F1 {full['f1']:.3f}, "
            f"answer recall {full['answer_recall']:.3f}.",
            f"Citation accuracy {m['citation_accuracy']:.3f}; offsets valid {m['offsets_valid']:.3f}.",
            f"Abstention precision {m['abstention']['precision']:.3f}, recall {m['abstention']['recall']:.3f}, "
            f"false abstentions {m['abstention']['false_abstention_rate']:.3f}.",
            f"Latency p50 {m['latency_ms']['p50']:.1f} ms, p95 {m['latency_ms']['p95']:.1f} ms.",
        ]
    )


def write(out_dir: Path, preds: list[Prediction], metrics: dict[str, Any], title: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "predictions.jsonl").open("w", encoding="utf-8") as fh:
        for p in preds:
            record = {
                "id": p.id,
                "question": p.question,
                "answer": p.answer,
                "abstained": p.abstained,
                "confidence": round(p.confidence, 4),
                "citations": [c.model_dump() for c in p.citations],
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    _plot(preds, metrics["threshold"], out_dir / "risk_coverage.png")
    misses = sorted(preds, key=lambda p: (f1_score(p.answer, p.gold), -p.confidence))[:15]
    lines = [
        f"# Evaluation: {title}",
        "",
        summary(metrics),
        "",
        "![risk–coverage](risk_coverage.png)",
        "",
        "## Worst misses",
        "",
        "| id | question | gold | answer | confidence |",
        "|---|---|---|---|---|",
    ]

    def cell(text: str | None) -> str:
        return (text or "—").replace("|", "\\|").replace("\n", " ")[:160]

    for p in misses:
        lines.append(
            f"| {p.id} | {cell(p.question)} | {cell(' / '.join(p.gold) or '(unanswerable)')} | "
            f"{cell(p.answer)} | {p.confidence:.2f} |"
        )
    (out_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
