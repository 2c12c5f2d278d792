"""The reader's forward pass at other precisions, at equal answers: fp32, bf16 autocast (shipped where the CPU has bf16)
(``torch.autocast("cpu", dtype=torch.bfloat16)``), int8 dynamic quantization of the Linear layers
(``torch.ao.quantization.quantize_dynamic``), and ONNX Runtime (fp32) only when ``onnxruntime`` is importable.

* speed: for every CSTO question, the reader's work on the windows it reads (``make_windows`` over the first
  ``reader_passages`` passages retrieval returns; ``read_windows``: one forward over all of them, then span
  decoding) on one torch thread; variants interleaved question by question, in rotating order; p50/p95 and the
  speed-up of each p50 against fp32, and the share of questions whose best span equals fp32's;
* quality: ``cstoqa.reader.gold.score`` (each question read with its own paragraph, margin
  threshold 0.0) on the first --squad-questions questions of ../shared/squad2/dev_public.json: F1, EM and
  answerable F1 (every question answered). Skipped when the file is absent.

Usage: python bench/reader_speed.py [--rounds 3] [--squad-questions 600]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from _common import (
    QUESTIONS,
    SQUAD,
    build_index,
    copy_corpus,
    log,
    machine_info,
    summary,
    wait_for_quiet,
    write_results,
)

Variant = tuple[Any, Callable[[], AbstractContextManager[Any]]]


def onnx_variant(model: Any, sample: dict[str, Any], folder: Path) -> Variant:
    """The model exported to ONNX (TorchScript exporter, dynamic batch and length), run by ONNX Runtime on one
    thread and called like the torch model, so ``read_windows`` and ``score`` use it unchanged."""
    import onnxruntime as ort
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, token_type_ids: Any, attention_mask: Any) -> tuple[Any, Any]:
            out = self.model(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)
            return out.start_logits, out.end_logits

    names, outputs = list(sample), ["start_logits", "end_logits"]
    path = folder / "reader.onnx"
    torch.onnx.export(
        Logits().eval(),
        tuple(sample[n] for n in names),
        str(path),
        input_names=names,
        output_names=outputs,
        dynamic_axes={n: {0: "batch", 1: "length"} for n in names + outputs},
        opset_version=17,
        dynamo=False,
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(**inputs: Any) -> SimpleNamespace:
        start, end = session.run(outputs, {n: inputs[n].numpy() for n in names})
        return SimpleNamespace(start_logits=torch.from_numpy(start), end_logits=torch.from_numpy(end))

    return run, nullcontext


@contextmanager
def reader_precision(name: str) -> Iterator[None]:
    """The precision cstoqa's reader runs at, set through its documented switch for the block."""
    before = os.environ.get("CSTOQA_READER_PRECISION")
    os.environ["CSTOQA_READER_PRECISION"] = name
    try:
        yield
    finally:
        if before is None:
            del os.environ["CSTOQA_READER_PRECISION"]
        else:
            os.environ["CSTOQA_READER_PRECISION"] = before


def make_variants(model: Any, sample: dict[str, Any], folder: Path) -> tuple[dict[str, Variant], dict[str, str]]:
    import torch

    variants: dict[str, Variant] = {
        "fp32": (model, lambda: reader_precision("fp32")),
        "bf16_autocast": (model, lambda: reader_precision("bf16")),
    }
    with warnings.catch_warnings():  # deprecated in favour of torchao (not installed); still in torch 2.13
        warnings.simplefilter("ignore", DeprecationWarning)
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    variants["int8_dynamic"] = (quantized, lambda: reader_precision("fp32"))
    skipped: dict[str, str] = {}
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        skipped["onnxruntime"] = "onnxruntime is not installed"
    else:
        try:
            variants["onnxruntime"] = onnx_variant(model, sample, folder)
        except Exception as exc:  # an exporter or runtime that does not take this model: say so, measure the rest
            skipped["onnxruntime"] = f"export or session failed: {type(exc).__name__}: {exc}"[:500]
    return variants, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the CSTO questions")
    parser.add_argument("--squad-questions", type=int, default=600, help="SQuAD dev questions scored per variant")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cstoqa-bench-reader-") as tmp:
        corpus, index = copy_corpus(Path(tmp) / "corpus"), Path(tmp) / "index"
        log("building the CSTO index in a temporary folder")
        build_index(corpus, index)

        import torch

        from cstoqa.assistant import Assistant, clean_question
        from cstoqa.evaluation.datasets import load_jsonl
        from cstoqa.reader.model import load_model, load_tokenizer, pad, read_windows
        from cstoqa.reader.windows import make_windows

        default_threads = torch.get_num_threads()
        assistant = Assistant.open(corpus, index, refresh=False)
        settings = assistant.settings
        tokenizer = load_tokenizer()
        windows = []
        for item in load_jsonl(QUESTIONS):
            text = clean_question(item.question, settings.max_question_chars)
            passages = assistant.search(text, top_k=max(settings.top_k, settings.reader_passages))
            found = make_windows(tokenizer, text, [p.text for p in passages[: settings.reader_passages]])
            if found:
                windows.append(found)
        variants, skipped = make_variants(load_model(), pad(windows[0]), Path(tmp))
        names = list(variants)

        def read(name: str, w: list[Any]) -> tuple[float, tuple[int, int, int] | None]:
            model, context = variants[name]
            torch.set_num_threads(1)
            started = time.perf_counter()
            with context():
                found = read_windows(model, w, batch=len(w))
            elapsed = (time.perf_counter() - started) * 1000
            best = max(found, key=lambda f: f[3] - f[4], default=None)
            return elapsed, None if best is None else (best[0].context, best[1], best[2])

        for w in windows[:5]:
            for name in names:
                read(name, w)
        quiet = wait_for_quiet("reader speed")
        times: dict[str, list[float]] = {name: [] for name in names}
        same = dict.fromkeys(names, 0)
        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds}")
            for i, w in enumerate(windows):
                spans = {}
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    elapsed, spans[name] = read(name, w)
                    times[name].append(elapsed)
                if r == 0:
                    for name in names:
                        same[name] += spans[name] == spans["fp32"]

        quality: dict[str, Any] = {}
        squad: dict[str, Any] = {"source": str(SQUAD), "threshold": 0.0}
        if SQUAD.is_file():
            from cstoqa.reader.gold import score
            from cstoqa.squad import load_examples

            examples = load_examples(SQUAD)[0][: args.squad_questions]
            squad["questions"] = len(examples)
            torch.set_num_threads(default_threads)
            for name, (model, context) in variants.items():
                log(f"SQuAD dev, {len(examples)} questions: {name}")
                with context():
                    result = score(model, tokenizer, examples, threshold=0.0)
                quality[name] = {
                    "f1": round(result["f1"], 4),
                    "exact_match": round(result["exact_match"], 4),
                    "answerable_f1": round(result["answerable_f1_full_coverage"], 4),
                    "best_overall_f1": round(result["best_overall_f1"], 4),
                }
        else:
            squad["skipped"] = f"{SQUAD} not found"

    stats = {name: summary(v) for name, v in times.items()}
    fp32 = stats["fp32"]["p50"]
    results = {
        name: {
            "read_ms": stats[name],
            "speedup_p50_vs_fp32": round(fp32 / stats[name]["p50"], 3),
            "same_best_span_as_fp32": round(same[name] / len(windows), 4),
            "squad": quality.get(name),
        }
        for name in names
    }
    payload = {
        "machine": machine_info(),
        "quiet_check": quiet,
        "csto_questions_read": len(windows),
        "windows_per_question": summary([len(w) for w in windows]),
        "rounds": args.rounds,
        "torch_threads": {"speed": 1, "squad_scoring": default_threads},
        "squad": squad,
        "variants": results,
        "variants_not_run": skipped,
    }
    write_results("reader_speed", payload)


if __name__ == "__main__":
    main()
