"""Print the Markdown tables of the README's Benchmarks section from bench/results/*.json.

Usage: python bench/summarize.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return None if "skipped" in data else data


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 1 else f"{value:.2f} ms"


def loads(data: dict[str, Any]) -> str:
    q = data.get("quiet_check", {})
    return f"{q.get('load_1m', '?')} → {data['machine']['load_average_at_end'][0]}"


def main() -> None:
    rows: list[tuple[str, str, str, str, str]] = []
    notes: list[str] = []
    lat, build, cold, peer, scale = (
        load(n) for n in ("latency", "index_build", "cold_start", "peer_haystack", "scale")
    )

    if lat:
        n = str(lat["recommended_torch_threads"])
        shown = "shipped" if "shipped" in lat["by_torch_threads"] else n
        best = lat["by_torch_threads"][shown]
        proto = lat["prototypes_at_recommended_threads"]
        rows.append(
            (
                f"Warm question p50, CSTO ({lat['corpus']['chunks']} chunks), "
                + ("code as shipped" if shown == "shipped" else f"torch threads {n}"),
                "≤ 1.5 × floor",
                f"{ms(best['total_ms']['p50'])} = **{best['ratio_p50_total_to_p50_floor']} ×** floor "
                f"({ms(best['floor_ms']['p50'])}); p95 {ms(best['total_ms']['p95'])}",
                lat["target"]["verdict"],
                f"{proto['proposed']['ratio_p50_total_to_p50_floor']} × (same run: "
                f"{proto['current']['ratio_p50_total_to_p50_floor']} × current)",
            )
        )
        stages = ", ".join(f"{k} {ms(v['p50'])}" for k, v in best["stages_ms"].items())
        notes.append(f"CSTO stages (p50, {'as shipped' if shown == 'shipped' else 'threads ' + n}): {stages}.")
        t = lat["by_torch_threads"]
        h = (lat.get("with_one_busy_competitor") or {}).get("by_torch_threads", {})
        desc = "; ".join(
            ("as shipped" if k == "shipped" else f"{k} thread{'s' if k != '1' else ''}")
            + f": {ms(t[k]['total_ms']['p50'])}"
            + (f" ({ms(h[k]['total_ms']['p50'])} with one busy competitor)" if k in h else "")
            for k in t
        )
        rows.append(("Torch threads for one question (p50 total)", "pick one", desc, f"use {n}", "—"))
    if scale:
        for r in scale["sizes"]:
            if r["chunks"] == 100_000 and r.get("full"):
                kind = scale["target"].get("index_used_at_100k", "flat")
                other = "flat" if kind == "hnsw" else "hnsw"
                rows.append(
                    (
                        f"Warm question p50, 100k chunks ({kind} index, as cstoqa builds it)",
                        "≤ 2 × floor",
                        f"{ms(r[f'p50_total_ms_{kind}'])} = **{r[f'ratio_p50_total_to_floor_{kind}']} ×** floor "
                        f"({ms(r['query_ms']['floor']['p50'])}); "
                        f"{other}: {r.get(f'ratio_p50_total_to_floor_{other}')} ×",
                        scale["target"]["verdict"],
                        f"{r.get('ratio_p50_total_to_floor_hnsw_proposed', '—')} × (HNSW), "
                        f"{r['ratio_p50_total_to_floor_flat_proposed']} × (flat), "
                        f"{r.get('ratio_p50_total_to_floor_fp16_proposed', '—')} × (float16 exact)",
                    )
                )
    if build:
        b, t = build["full_build_model_loaded"], build["targets"]
        raw = build["raw_encode_by_torch_threads"][str(build["torch_threads_during_build"])]["chunks"]["median_per_s"]
        rows.append(
            (
                f"Index build, SQuAD dev ({build['corpus']['chunks']} chunks, "
                f"{build['corpus']['sentences']} sentences)",
                "≥ 0.85 × raw encode",
                f"{b['median_chunks_per_s']} chunks/s vs raw {raw} chunks/s = "
                f"**{t['build_over_raw_encode']['value']} ×** "
                f"(ceiling with sentence embedding: {build['ceiling_if_everything_but_encoding_were_free']})",
                t["build_over_raw_encode"]["verdict"],
                f"{t['build_over_raw_encode']['value_with_proposed_change']} × (length-sorted encode)",
            )
        )
        share = ", ".join(f"{k} {v:.0%}" for k, v in b["median_stage_share"].items() if v >= 0.005)
        notes.append(
            f"Build time by stage: {share}. The two embedding stages run at "
            f"{build.get('embedding_stages_vs_raw_encode_of_same_texts')} × the raw encode speed of the same texts."
        )
        u = t["unchanged_reindex_s"]
        rows.append(
            (
                "Unchanged reindex (`cstoqa index`)",
                "< 1 s, model not loaded",
                f"**{u['value_process_wall_s']:.2f} s** process wall ({u['value_report_seconds']:.3f} s in reindex); "
                f"model loaded: {u['model_loaded']}, torch imported: {u['torch_imported']}",
                u["verdict"],
                "—",
            )
        )
        o = build["one_file_change"]
        rows.append(
            (
                "One-file change",
                "—",
                f"{o['median_in_process_s']:.2f} s in a warm process; {o['median_cli_wall_s']:.1f} s as "
                f"`cstoqa index` (cold, loads the model)",
                "—",
                "—",
            )
        )
    if cold:
        m = cold["median_s"]
        rows.append(
            (
                "Cold start `cstoqa ask` (median of " + str(cold["repeats"]) + ")",
                "≤ 1.3 × floor",
                f"{m['ask']:.2f} s vs floor {m['floor']:.2f} s = **{cold['ratio_ask_to_floor']} ×**",
                cold["target"]["verdict"],
                f"{cold['proposed_background_model_load']['ratio_to_floor']} × (model loads in a thread)",
            )
        )
    if peer:
        lat_p = peer["latency_ms"]
        hits = peer["retrieval_hits_top5"]
        rows.append(
            (
                f"Per question vs Haystack {peer['haystack_version']} (p50)",
                "faster, hit@5 ≥",
                f"cstoqa ask {ms(lat_p['cstoqa_ask']['p50'])} (retrieval {ms(lat_p['cstoqa_retrieval']['p50'])}) vs "
                f"Haystack {ms(lat_p['haystack_pipeline']['p50'])}; hit@5 {hits['cstoqa']['hit@5']:.3f} vs "
                f"{hits['haystack']['hit@5']:.3f}",
                peer["target"]["verdict"],
                "—",
            )
        )
    rss = []
    if lat:
        rss.append(f"warm question process {lat['rss_mb']['peak_warm_process']:.0f} MB")
    if cold:
        rss.append(
            f"`cstoqa ask` {cold['peak_rss_mb_median']['ask']:.0f} MB "
            f"(floor {cold['peak_rss_mb_median']['floor']:.0f} MB)"
        )
    if build:
        rss.append(f"`cstoqa index --rebuild` {build['rss_mb']['cold_cli_rebuild_peak']:.0f} MB")
        rss.append(f"unchanged `cstoqa index` {build['rss_mb']['unchanged_reindex_cli_peak']:.0f} MB")
    if peer:
        rss.append(
            f"Haystack process {peer['peak_rss_mb']['haystack']:.0f} MB "
            f"vs cstoqa {peer['peak_rss_mb']['cstoqa']:.0f} MB"
        )
    if rss:
        rows.append(("Peak RSS", "—", "; ".join(rss), "—", "—"))

    print("| measure | target | measured | verdict | with proposed changes |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    if scale:
        print(
            "| chunks | build: flat / HNSW / BM25 | flat search p50 (1 thread) | fp16 search p50 (recall@10) | "
            "HNSW search p50 (1 thread) | HNSW recall@10 | BM25 p50 (inline) | answer p50 (proposed) | "
            "question p50 ÷ floor: flat / HNSW | memory: flat / HNSW / BM25 |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in scale["sizes"]:
            q = r["query_ms"]

            def get(stage: str, q: dict[str, Any] = q) -> str:
                return ms(q[stage]["p50"]) if stage in q else "—"

            bm25_build = f"{r['bm25_build_s']:.1f} s" if "bm25_build_s" in r else "—"
            hnsw_build = f"{r['hnsw_build_s']:.1f} s" if "hnsw_build_s" in r else "skipped"
            recall10 = f"{r['hnsw_recall@10']:.3f}" if "hnsw_recall@10" in r else "—"
            hnsw_mem = f"{r['hnsw_index_mb']:.0f}" if "hnsw_index_mb" in r else "—"
            bm25_mem = f"{r['bm25_arrays_mb']:.0f}" if "bm25_arrays_mb" in r else "—"
            fp16 = f"{get('dense_fp16_1thread')} ({r['fp16_recall@10']:.3f})" if "fp16_recall@10" in r else "—"
            ratios = (
                f"{r['ratio_p50_total_to_floor_flat']} / {r.get('ratio_p50_total_to_floor_hnsw', '—')}"
                if "ratio_p50_total_to_floor_flat" in r
                else "—"
            )
            print(
                f"| {r['chunks']:,} | {r['flat_build_s']:.2f} s / {hnsw_build} / {bm25_build} | "
                f"{get('dense_flat')} ({get('dense_flat_1thread')}) | {fp16} | "
                f"{get('dense_hnsw')} ({get('dense_hnsw_1thread')}) | {recall10} | "
                f"{get('bm25')} ({get('bm25_inline')}) | {get('answer')} ({get('answer_proposed')}) | {ratios} | "
                f"{r['flat_index_mb']:.0f} / {hnsw_mem} / {bm25_mem} MB |"
            )
        print()
    for note in notes:
        print(f"- {note}")
    for name, data in (
        ("latency", lat),
        ("index_build", build),
        ("cold_start", cold),
        ("peer", peer),
        ("scale", scale),
    ):
        if data:
            print(f"- {name}: {data['machine']['date']}, load average (1 min) {loads(data)}")


if __name__ == "__main__":
    main()
