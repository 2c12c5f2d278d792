"""Print the Markdown tables of the README's Benchmarks section from bench/results/*.json.

A result written by an older version of its script (before the reader replaced the answerer) is left out, with
a note to rerun it. Usage: python bench/summarize.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# A key each script's current version writes, so that an older results file is recognised as such.
CURRENT_KEY = {
    "latency": "ask_ms",
    "reader_speed": "variants",
    "index_build": "raw_encode",
    "cold_start": "breakdown_median_step_s",
    "peer_haystack": "latency_ms",
    "scale": "sizes",
}
NOTES: list[str] = []


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if "skipped" in data:
        NOTES.append(f"{name}: skipped ({data['skipped']})")
        return None
    if CURRENT_KEY[name] not in data or (name == "scale" and "floor" not in data.get("method", {})):
        NOTES.append(f"{name}: results/{name}.json is from an older version of the script; rerun it")
        return None
    return data


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 1 else f"{value:.2f} ms"


def p50(stats: dict[str, Any], key: str) -> str:
    return ms(stats[key]["p50"]) if key in stats else "—"


def main() -> None:
    lat, speed, build, cold, peer, scale = (load(n) for n in CURRENT_KEY)
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    if lat:
        rows.append(
            (
                f"Warm `ask` p50, CSTO ({lat['corpus']['chunks']} chunks, {lat['questions']} questions)",
                "≤ 1.3 × floor",
                f"{ms(lat['ask_ms']['p50'])} = **{lat['ratio_p50_ask_to_p50_floor']} ×** floor "
                f"({ms(lat['floor_ms']['p50'])}: encode + one reader forward); p95 {ms(lat['ask_ms']['p95'])}",
                lat["target"]["verdict"],
            )
        )
        stages = ", ".join(f"{k} {ms(v['p50'])}" for k, v in lat["stages_ms"].items())
        notes.append(f"CSTO stages (p50, from the `timings` seam): {stages}.")
    if scale:
        at = next((r for r in scale["sizes"] if r["chunks"] == 100_000 and r.get("full")), None)
        if at:
            q = at["query_ms"]
            rows.append(
                (
                    f"Warm `ask` p50, 100k synthetic chunks ({at['shipped_index']} index, as cstoqa builds it)",
                    "≤ 2 × floor",
                    f"{ms(q['ask']['p50'])} = **{at['ratio_p50_ask_to_floor']} ×** floor ({ms(q['floor']['p50'])})",
                    scale["target"]["verdict"],
                )
            )
    if build:
        b, t = build["full_build_model_loaded"], build["targets"]
        rows.append(
            (
                f"Index build, SQuAD dev ({build['corpus']['chunks']} chunks, "
                f"{build['corpus']['sentences']} sentences)",
                "≥ 0.85 × raw encode",
                f"{b['median_chunks_per_s']} chunks/s vs raw {build['raw_encode']['chunks']['median_per_s']} chunks/s "
                f"= **{t['build_over_raw_encode']['value']} ×** (ceiling with sentence embedding: "
                f"{build['ceiling_if_everything_but_encoding_were_free']})",
                t["build_over_raw_encode"]["verdict"],
            )
        )
        share = ", ".join(f"{k} {v:.0%}" for k, v in b["median_stage_share"].items() if v >= 0.005)
        notes.append(f"Build time by stage: {share}.")
        u = t["unchanged_reindex_s"]
        rows.append(
            (
                "Unchanged reindex (`cstoqa index`)",
                "< 1 s, model not loaded",
                f"**{u['value_process_wall_s']:.2f} s** process wall; model loaded: {u['model_loaded']}, "
                f"torch imported: {u['torch_imported']}",
                u["verdict"],
            )
        )
        o = build["one_file_change"]
        rows.append(
            (
                "One-file change",
                "—",
                f"{o['median_in_process_s']:.2f} s in a warm process; {o['median_cli_wall_s']:.1f} s as "
                "`cstoqa index` (cold, loads the model)",
                "—",
            )
        )
    if cold:
        m = cold["median_s"]
        rows.append(
            (
                f"Cold start `cstoqa ask` (median of {cold['repeats']})",
                "≤ 1.3 × floor",
                f"{m['ask']:.2f} s vs floor {m['floor']:.2f} s = **{cold['ratio_ask_to_floor']} ×**",
                cold["target"]["verdict"],
            )
        )
        steps = ", ".join(f"{k.strip()} {v:.2f} s" for k, v in cold["breakdown_median_step_s"].items())
        notes.append(f"Cold start by step (the first encode and read load their models): {steps}.")
    if peer:
        lp, hits = peer["latency_ms"], peer["retrieval_hits_top5"]
        rows.append(
            (
                f"Per question vs Haystack {peer['haystack_version']} (p50)",
                "faster, hit@5 ≥",
                f"cstoqa ask {ms(lp['cstoqa_ask']['p50'])} (retrieval {ms(lp['cstoqa_retrieval']['p50'])}) vs "
                f"Haystack retrieval {ms(lp['haystack_pipeline']['p50'])}; hit@5 {hits['cstoqa']['hit@5']:.3f} vs "
                f"{hits['haystack']['hit@5']:.3f}",
                peer["target"]["verdict"],
            )
        )
    rss = []
    if lat:
        rss.append(f"warm question process {lat['rss_mb']['peak_warm_ask_process']:.0f} MB")
    if cold:
        r = cold["peak_rss_mb_median"]
        rss.append(f"`cstoqa ask` {r['ask']:.0f} MB (floor {r['floor']:.0f} MB)")
    if build:
        rss.append(f"`cstoqa index --rebuild` {build['rss_mb']['cold_cli_rebuild_peak']:.0f} MB")
        rss.append(f"unchanged `cstoqa index` {build['rss_mb']['unchanged_reindex_cli_peak']:.0f} MB")
    if rss:
        rows.append(("Peak RSS", "—", "; ".join(rss), "—"))

    print("| measure | target | measured | verdict |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    if speed:
        print(
            "| reader precision | read p50 (p95), 1 thread | speed-up vs fp32 | same best span as fp32 | "
            "SQuAD F1 | answerable F1 |"
        )
        print("|---|---|---|---|---|---|")
        for name, v in speed["variants"].items():
            squad = v.get("squad") or {}
            print(
                f"| {name} | {ms(v['read_ms']['p50'])} ({ms(v['read_ms']['p95'])}) | {v['speedup_p50_vs_fp32']} × | "
                f"{v['same_best_span_as_fp32']:.1%} | {squad.get('f1', '—')} | {squad.get('answerable_f1', '—')} |"
            )
        for name, why in speed.get("variants_not_run", {}).items():
            print(f"| {name} | not run: {why} | | | | |")
        print()
    if scale:
        print(
            "| chunks | build: flat / HNSW / BM25 / sentence index | dense search p50: flat / HNSW | HNSW recall@10 | "
            "ask p50 (retrieve, read) | floor p50 | ask ÷ floor | index size: flat / HNSW |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for r in scale["sizes"]:
            q = r["query_ms"]

            def s(key: str, r: dict[str, Any] = r) -> str:
                return f"{r[key]:.1f} s" if key in r else "—"

            print(
                f"| {r['chunks']:,} | {r['flat_build_s']:.2f} s / {s('hnsw_build_s')} / {s('bm25_build_s')} / "
                f"{s('sentence_index_build_s')} | {p50(q, 'dense_flat')} / {p50(q, 'dense_hnsw')} | "
                f"{r.get('hnsw_recall@10', '—')} | {p50(q, 'ask')} ({p50(q, 'retrieve')}, {p50(q, 'read')}) | "
                f"{p50(q, 'floor')} | {r.get('ratio_p50_ask_to_floor', '—')} | "
                f"{r['flat_index_mb']:.0f} / {r.get('hnsw_index_mb', '—')} MB |"
            )
        print()
    for note in notes + NOTES:
        print(f"- {note}")
    for name, data in zip(CURRENT_KEY, (lat, speed, build, cold, peer, scale), strict=True):
        if data:
            start, end = data.get("quiet_check", {}).get("load_1m", "?"), data["machine"]["load_average_at_end"][0]
            print(f"- {name}: {data['machine']['date']}, load (1 min) {start} → {end}")


if __name__ == "__main__":
    main()
