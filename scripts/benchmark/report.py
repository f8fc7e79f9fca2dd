"""The report: Markdown tables of every row, the floor, the profile and the targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from benchmark.common import BART, LONG_WORDS, MARIAN

HEADLINE_KEYS = (
    "seed_article_s",
    "naive_baseline_s",
    "batched_hf_s",
    "articles_per_min_16_clients",
    "service_overhead_ratio",
    "rss_mb",
    "ready_s",
    "floor_s",
    "floor_service_layout_s",
    "first_paragraph_s",
    "translation_s",
    "rss_mb_16_clients",
    "engine_bound_s",
    "rss_mb_load",
)
MIB = 2**20 / 1e6
"""MB per MiB: the targets are in MB, VmHWM in KiB."""


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def ratio(base: float | None, value: float | None) -> float | None:
    """How many times faster `value` is than `base` (both seconds)."""
    if not base or not value:
        return None
    return base / value


def _service_run(service: dict[str, Any], article: str, clients: int) -> dict[str, Any] | None:
    runs = service.get("runs", [])
    return next((r for r in runs if r["article"] == article and r["clients"] == clients), None)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _threads_shown(threads: dict[str, int] | None) -> str:
    """`, 2 x 1 threads` from meta.models[].threads (inter x intra); nothing when unknown."""
    if not threads:
        return ""
    return f", {threads['inter']} x {threads['intra']} threads"


def render(report: dict[str, Any]) -> str:
    sizes = report["sizes"]
    machine = report["machine"]
    lines: list[str] = []
    add = lines.append
    quick = " (quick: tiny sizes, not a measurement)" if report["quick"] else ""
    add(f"# Dépêche benchmark{quick}")
    add("")
    if report.get("derived_from_json"):
        add(
            "Re-derived with `scripts/bench.py --from-json` from the run's saved JSON: the "
            "measurements are the run's own; the engine bound and the verdicts are those of "
            "the current report code."
        )
        add("")
    add(
        f"Machine: {machine['cpu']}, {machine['cores']} cores, avx512f {machine['avx512f']}, "
        f"AMX {machine['amx']}; torch {machine['torch']}, transformers "
        f"{machine['transformers']}, ctranslate2 {machine['ctranslate2']}; "
        f"avx512_vnni {machine.get('avx512_vnni')}, native bf16 {machine.get('native_bf16')}; "
        f"OMP_WAIT_POLICY={machine['omp_wait_policy'] or 'unset'}; CTranslate2 CPU kernels "
        f"{machine.get('ct2_cpu_isa') or 'not recorded'}; matrix products GFLOP/s "
        f"{machine.get('gemm_gflops')} (512³; int8: 1024³ int8 x int8); memory "
        f"{machine.get('memory')}; device {report.get('device', 'cpu')}. "
        f"Medians of {sizes['repeats']} runs after a warm-up run "
        f"({LONG_WORDS}-word article: {sizes['long_repeats']} run(s) after the sample's "
        f"warm-up). The run took {report['duration_s']:.0f} s."
    )
    params = report.get("parameters_m", {})
    add(
        f"Models: {MARIAN} architecture ({fmt(params.get(MARIAN))} M parameters) and {BART} "
        f"architecture ({fmt(params.get(BART))} M), random weights, seed {report['seed']}."
    )
    add("")

    sample, long = sizes["sample"], sizes["long"]
    add("## Translation (forced lengths, beam 4)")
    add("")
    add(
        f"Sample article: {len(sample['sources'])} sentences, {sum(sample['sources'])} source "
        f"→ {sum(sample['targets'])} target tokens. {LONG_WORDS}-word article: "
        f"{len(long['sources'])} sentences, {sum(long['sources'])} → {sum(long['targets'])}. "
        "× = times faster than the naive baseline / than batched HF float32. Streams: "
        f"{sizes['streams']} sample articles translated at once (CTranslate2 only; transformers "
        "runs one call at a time behind the model lock)."
    )
    add("")
    translation = report["engines"]["translation"]
    hf32 = translation.get("HF float32", {}).get("results", {})
    naive_s = hf32.get("sample_naive", {}).get("median_s")
    batched_s = hf32.get("sample_batched", {}).get("median_s")
    rows = []
    for label, row in translation.items():
        if "skipped" in row:
            rows.append([label, f"{row['intra']}/{row['inter']}", f"skipped: {row['skipped']}"])
            rows[-1] += ["—"] * 9
            continue
        results = row["results"]
        for mode in ("naive", "batched"):
            if f"sample_{mode}" not in results:
                continue
            s = results[f"sample_{mode}"]
            lg = results.get(f"long_{mode}", {})
            rows.append(
                [
                    label,
                    f"{row['intra']}/{row['inter']}",
                    mode,
                    fmt(s["median_s"], 3),
                    fmt(s["tokens_per_s"], 0),
                    fmt(ratio(naive_s, s["median_s"])),
                    fmt(ratio(batched_s, s["median_s"])),
                    fmt(lg.get("median_s"), 2),
                    fmt(lg.get("tokens_per_s"), 0),
                    fmt(results.get("streams", {}).get("articles_per_min"), 1),
                    fmt(row["ready_s"], 2),
                    fmt(row["rss_mb"], 0),
                ]
            )
    header = ["engine", "intra/inter", "mode", "sample s", "target tok/s", "× naive"]
    header += ["× HF fp32", f"{LONG_WORDS}-word s", "tok/s", "streams art/min", "ready s"]
    lines += table([*header, "peak RSS MiB"], rows)
    add("")

    add(
        f"## Summary ({sizes['summary_source']} → {sizes['summary_target']} tokens, forced; "
        "length penalty 2.0, no repeated 3-grams)"
    )
    add("")
    summary = report["engines"]["summary"]
    base = summary.get("HF float32", {}).get("results", {})
    rows = []
    for label, row in summary.items():
        cells = [label, f"{row['intra']}/{row['inter']}"]
        if "skipped" in row:
            rows.append([*cells, f"skipped: {row['skipped']}", *(["—"] * 8)])
            continue
        for beam in ("beam4", "beam2"):
            r = row["results"][beam]
            cells += [
                fmt(r["median_s"], 3),
                fmt(r["tokens_per_s"], 1),
                fmt(ratio(base.get(beam, {}).get("median_s"), r["median_s"])),
            ]
        streams = row["results"].get("streams") or {}
        cells.append(fmt(streams.get("articles_per_min"), 1))
        rows.append([*cells, fmt(row["ready_s"], 2), fmt(row["rss_mb"], 0)])
    header = ["engine", "intra/inter", "beam 4 s", "tok/s", "× HF fp32", "beam 2 s", "tok/s"]
    header += ["× HF fp32", "summaries at once art/min", "ready s", "peak RSS MiB"]
    lines += table(header, rows)
    add("")

    add("## Sample article end to end, engines only (translation + summary at beam 4, forced)")
    add("")
    articles = report["engines"]["articles"]
    naive = articles[0] if articles else {}
    batched_total = articles[1]["article_s"] if len(articles) > 1 else None
    rows = [
        [
            a["label"],
            fmt(a["translation_s"], 3),
            fmt(a["summary_s"], 3),
            fmt(a["article_s"], 3),
            fmt(ratio(naive.get("article_s"), a["article_s"])),
            fmt(ratio(batched_total, a["article_s"])),
            fmt(a["articles_per_min"], 1),
            fmt(a["rss_mb_both"], 0),
            fmt(ratio(a["rss_mb_both"], naive.get("rss_mb_both"))),
            fmt(a["ready_s_both"], 2),
            fmt(ratio(a["ready_s_both"], naive.get("ready_s_both"))),
        ]
        for a in articles
    ]
    header = ["configuration", "translation s", "summary s", "article s", "× naive"]
    header += ["× HF fp32 batched", "articles/min (one at a time)", "peak RSS MiB (both)"]
    lines += table([*header, "RSS / naive's", "ready s (both)", "ready / naive's"], rows)
    add("")
    add(
        "× columns: times faster (article s) than the baseline; RSS and ready are shown as a "
        "fraction of the naive baseline's (HF float32). RSS and ready add up the two model "
        "processes (translation and summary)."
    )
    add("")

    for engine, service in (report.get("service") or {}).items():
        add(f"## Whole service over HTTP: DEPECHE_ENGINE={engine} (service-decided lengths)")
        add("")
        if "error" in service:
            add(f"Failed: {service['error']}")
            add("")
            continue
        inproc = service["in_process"]
        shown = ", ".join(f"{k}={v}" for k, v in inproc.get("settings", {}).items())
        models = "; ".join(
            f"{m.get('task')}: {m.get('engine')}{_threads_shown(m.get('threads'))}"
            for m in inproc.get("meta", {}).get("models", [])
        )
        add(
            f"`python -m service serve` on 127.0.0.1, POST /summarize; settings {shown}; "
            f"engines {models}. Ready after {fmt(service['ready_s'])} s"
            f"{_load_peak_shown(service.get('rss_mb_load'))}; server peak RSS "
            f"{fmt(service['rss_mb'], 0)} MiB. Each sentence's translation is forced to "
            f"{sizes['service_sentence_tokens']} tokens and each summary to "
            f"{sizes['service_summary_tokens']}; sentences, chunks and token counts are the "
            "service's own (the tiny test tokenizers, the translation model's widened by "
            "the bench, so still more source tokens than the real tokenizer makes: 627 "
            "against about 450 for the sample); tokens/s from meta.tokens. Long article: "
            f"{service['long_article_words']} words of {service['long_article_source']}."
        )
        add("")
        rows = []
        for run in service["runs"]:
            t = run["meta_tokens"]
            rows.append(
                [
                    run["article"],
                    str(run["clients"]),
                    str(run["requests"]),
                    fmt(run["p50_s"], 2),
                    fmt(run["p95_s"], 2),
                    fmt(run["articles_per_min"], 2),
                    fmt(run["tokens_per_s"], 0),
                    fmt(run["translation_tokens_per_s"], 0),
                    f"{t.get('translation_input')}→{t.get('translation_output')}, "
                    f"{t.get('summary_input')}→{t.get('summary_output')}",
                    f"{run['strategy']} ({run['chunks']} chunk(s))",
                ]
            )
        header = ["article", "clients", "requests", "p50 s", "p95 s", "articles/min"]
        header += ["tokens/s", "translation tok/s", "meta tokens: translation, summary"]
        lines += table([*header, "summary strategy"], rows)
        add("")
        add(
            "In-process pipeline (same models and settings, sample article): "
            f"{fmt(inproc.get('median_s'), 3)} s, ready after {fmt(inproc.get('ready_s'))} s, "
            f"peak RSS {fmt(inproc.get('rss_mb'), 0)} MiB. Service overhead ratio (HTTP p50 at "
            f"1 client / in-process): {fmt(service.get('overhead_ratio'), 3)}."
        )
        add("")

    variants = {k: v for k, v in (report.get("service") or {}).items() if v.get("runs")}
    if variants:
        add("## Service variants side by side")
        add("")
        base = next(iter(variants.values()))
        base_name = next(iter(variants))
        naive_s = naive.get("article_s")
        rows = []
        for engine, service in variants.items():
            one = _service_run(service, "sample", 1) or {}
            most = _service_run(service, "sample", max(r["clients"] for r in service["runs"]))
            base_one = _service_run(base, "sample", 1) or {}
            base_most = _service_run(base, "sample", (most or {}).get("clients", 0)) or {}
            rows.append(
                [
                    engine,
                    fmt(one.get("p50_s"), 2),
                    fmt(ratio(base_one.get("p50_s"), one.get("p50_s"))),
                    fmt(ratio(naive_s, one.get("p50_s"))),
                    fmt(one.get("p95_s"), 2),
                    f"{fmt((most or {}).get('articles_per_min'), 1)} "
                    f"({(most or {}).get('clients')} clients)",
                    fmt(
                        ratio(
                            (most or {}).get("articles_per_min"), base_most.get("articles_per_min")
                        )
                    ),
                    fmt(service["rss_mb"], 0),
                    fmt(ratio(service["rss_mb"], base["rss_mb"])),
                    fmt(service["ready_s"], 2),
                    fmt(ratio(service["ready_s"], base["ready_s"])),
                    fmt(service.get("overhead_ratio"), 3),
                ]
            )
        header = ["DEPECHE_ENGINE", "p50 s, 1 client", f"× {base_name}", "× naive baseline"]
        header += ["p95 s", "articles/min", f"× {base_name}", "server RSS MiB"]
        lines += table(
            [*header, f"/ {base_name}", "ready s", f"/ {base_name}", "HTTP/in-process"], rows
        )
        add("")
        add(
            "× = times faster (p50) or more throughput (articles/min); / = fraction of the first "
            "variant's memory or start-up time. The naive baseline (engine-only, forced lengths) "
            "is only a yardstick here: the service decides its own lengths."
        )
        add("")

    lines += render_stream(report)
    lines += render_profile(report)
    lines += render_floor(report)
    lines += render_targets(report)
    add(f"## Summary figures (service rows: DEPECHE_ENGINE={report.get('service_engine')})")
    add("")
    for key in HEADLINE_KEYS:
        value = report.get(key)
        add(f"- `{key}`: {fmt(value, 3) if value is not None else 'not available'}")
    add("")
    add(
        "Forced lengths: the engine rows (translation, summary, sample-article totals) force "
        "every output length; the service rows force each sentence's translation and each "
        "summary but let the service decide sentences, chunks and tokens. `seed_article_s` is "
        "the service's p50 at 1 client; `naive_baseline_s` and `batched_hf_s` are engine-only "
        "totals (translation + summary at beam 4). `floor_s`: see the floor section; "
        "`first_paragraph_s` and `translation_s`: the stream at 1 client; `rss_mb_16_clients`: "
        "the server's peak RSS during the 16-client run (VmHWM reset before it), MiB; "
        "`rss_mb_load`: its peak while loading, before any request (VmHWM at ready), MiB, "
        "which the 1-client memory target counts with the 1-client run's."
    )
    for failure in report.get("failures", []):
        add(f"- FAILED: {failure}")
    return "\n".join(lines) + "\n"


def render_stream(report: dict[str, Any]) -> list[str]:
    service = (report.get("service") or {}).get(report.get("service_engine") or "", {})
    stream = service.get("stream")
    if not stream:
        return []
    out = ["## Streaming: POST /summarize, Accept: application/x-ndjson, 1 client", ""]
    if not stream.get("available"):
        out += [
            "Not available: the server answered "
            f"`{stream.get('content_type') or 'no content type'}`, not NDJSON.",
            "",
        ]
        return out
    out += table(
        ["first paragraph s", "last paragraph (translation) s", "done s", "paragraphs", "runs"],
        [
            [
                fmt(stream["first_paragraph_s"], 3),
                fmt(stream["translation_s"], 3),
                fmt(stream["total_s"], 3),
                str(stream["paragraphs"]),
                str(stream.get("runs", 1)),
            ]
        ],
    )
    out += ["", "Medians; seconds from sending the request to the event's line arriving.", ""]
    return out


def render_profile(report: dict[str, Any]) -> list[str]:
    """Where the time goes: encoder against decoder, per step, and the output layer."""
    engines = report.get("engines") or {}
    out = ["## Profile: where the time goes", ""]
    rows = []
    for task in ("translation", "summary"):
        for label, row in (engines.get(task) or {}).items():
            results = row.get("profile") or {}
            steps = results.get("steps") or {}
            for key, s in ({"": steps} if "step_s" in steps else steps).items():
                rows.append(
                    [
                        task,
                        label,
                        f"one-step vs all steps{', ' + key if key else ''}",
                        fmt(s["encoder_s"], 3),
                        fmt(s["decoder_s"], 3),
                        f"{s['steps']} × {fmt(s['step_s'] * 1000, 1)} ms",
                        "—",
                    ]
                )
            hooks = results.get("hooks")
            if hooks:
                calls = hooks.get("decoder_calls") or 0
                per_step = hooks["decoder_s"] / calls if calls else None
                rows.append(
                    [
                        task,
                        label,
                        "forward hooks" + (f", beam {hooks['beams']}" if "beams" in hooks else ""),
                        fmt(hooks["encoder_s"], 3),
                        fmt(hooks["decoder_s"] + hooks["output_layer_s"], 3),
                        f"{int(calls)} × {fmt((per_step or 0) * 1000, 1)} ms (+ output layer)",
                        fmt(
                            100
                            * hooks["output_layer_s"]
                            / max(1e-9, hooks["decoder_s"] + hooks["output_layer_s"]),
                            0,
                            " %",
                        ),
                    ]
                )
    if not rows:
        return []
    out += table(
        ["model", "engine", "method", "encoder s", "decoder s", "decoder steps", "output layer"],
        rows,
    )
    floor = report.get("floor") or {}
    parts = floor.get("parts") or {}
    shares = ", ".join(
        f"{task} {fmt(100 * p['output_layer_share'], 0)} %" for task, p in parts.items()
    )
    out += [
        "",
        "One-step vs all steps: the same input forced to 1 output token and to all of them "
        "(the summary's one-step run at beam 2 serves both beams); encoder ≈ the 1-step time "
        "less one step. Forward hooks (transformers only): time inside the encoder, the "
        "decoder layers and the output layer over a timed run (decoder calls = steps × "
        "batches). Output layer: its share of decoder time, measured by the hooks. Its share "
        f"of decoder FLOPs, from the shapes: {shares or '—'}.",
        "",
    ]
    return out


def render_floor(report: dict[str, Any]) -> list[str]:
    floor = report.get("floor")
    if not floor:
        return []
    out = ["## The floor: the least this machine can take for the sample article", ""]
    rows = []
    for task, p in floor["parts"].items():
        rows.append(
            [
                task,
                fmt(p["encoder_flops"] / 1e9, 1),
                fmt(p["decoder_flops"] / 1e9, 1),
                fmt(100 * p["output_layer_share"], 0, " %"),
                fmt(p["compute_s"], 3),
                f"{p['steps']} × {fmt(p['step_bytes'] / 1e6, 1)} MB",
                fmt(p["memory_s"], 3),
                fmt(p["floor_s"], 3),
            ]
        )
    out += table(
        [
            "model",
            "encoder GFLOP",
            "decoder GFLOP",
            "output layer share",
            "FLOPs at int8 rate s",
            "decoder weight reads",
            "reads at bandwidth s",
            "floor s",
        ],
        rows,
    )
    out += [
        "",
        f"floor_s = {fmt(floor['floor_s'], 3)} s = FLOPs / {fmt(floor['int8_gflops'], 1)} "
        "GFLOP/s (the measured int8 × int8 → int32 matrix product, 1024³, `torch._int_mm`) "
        "+ decoder steps × int8 decoder "
        f"weights / {fmt(floor['read_gbps'], 1)} GB/s (the measured read bandwidth). Beams: "
        f"translation {floor['beams']['translation']}, summary {floor['beams']['summary']} (the "
        "service's defaults). FLOPs: 2 per multiply-add of every matrix product (encoder per "
        "source token, decoder and output layer per generated token and beam, attention over "
        "the tokens so far and the source, cross-attention keys/values once); steps: the "
        "translation's longest sentence (the whole article is one batch), the summary's "
        "length. Biases, norms, softmax and lookups are left out, so it is a bound.",
        "",
    ]
    bound = report.get("engine_bound")
    if bound:
        out += [
            "**The engine bound: the least the sample article takes on the engines measured "
            "here.** The fastest run of any row of the default translator on the sample article "
            f"({bound['translation_row']}: {fmt(bound['translation_s'], 3)} s) + the fastest "
            f"decoder of the default summarizer at beam {bound['summary_beams']} "
            f"({bound['summary_row']}: {bound['summary_steps']} steps × "
            f"{fmt(1000 * bound['summary_step_s'], 1)} ms = "
            f"{fmt(bound['summary_decoder_s'], 3)} s, the encoder left out) = "
            f"**{fmt(bound['bound_s'], 3)} s** (`engine_bound_s`). The service runs these "
            "engines on these lengths (its translation on more source tokens: the bench's "
            "tokenizers) and starts the summary only when the translation is done, so up to "
            "run-to-run noise it cannot be faster; a speed target below this is out of reach "
            "with them, whatever the hardware floor says.",
            "",
        ]
    layout = floor.get("service_layout")
    if layout:
        out += [
            "**The floor of the service's layout.** The service runs the translation as "
            "one-thread calls side by side on every core, and each summary call on one thread "
            "(CTranslate2 decodes slower at two threads: see the summary rows and the profile), "
            "so one summary reads its weights through one core: "
            f"{fmt(layout['int8_gflops_one_core'], 1)} GFLOP/s int8 and "
            f"{fmt(layout['read_gbps_one_core'], 1)} GB/s measured on one thread. Translation "
            f"{fmt(layout['translation_s'], 3)} s + summary {fmt(layout['summary_s'], 3)} s "
            f"({fmt(layout['summary_compute_s'], 3)} s FLOPs + "
            f"{fmt(layout['summary_memory_s'], 3)} s reads) = "
            f"**{fmt(layout['floor_s'], 3)} s** (`floor_service_layout_s`).",
            "",
        ]
    return out


ENGINES_OUT_OF_REACH = "out of reach with these engines"


def _verdict(ok: bool | None, reachable: bool | None, engines_reach: bool | None = None) -> str:
    """met; out of reach when the floor itself is beyond the target (no setting gets there on
    this machine); out of reach with these engines when the hardware could but the fastest
    engine rows of the same run, added up, are beyond it (`engine_bound_s`); missed when
    both say it could be done."""
    if ok is None:
        return "—"
    if ok:
        return "met"
    if reachable is False:
        return "out of reach"
    return ENGINES_OUT_OF_REACH if engines_reach is False else "missed"


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 10 §4: what it asks, what was measured, met or not, and what the
    floor says about it."""
    machine = report.get("machine") or {}
    floor = report.get("floor_s")
    seed, naive = report.get("seed_article_s"), report.get("naive_baseline_s")
    speedup = naive / seed if seed and naive else None
    translation_floor = ((report.get("floor") or {}).get("parts") or {}).get("translation", {})
    service = (report.get("service") or {}).get(report.get("service_engine") or "", {})
    runs = service.get("runs") or []
    one = next((r for r in runs if r["article"] == "sample" and r["clients"] == 1), {})
    rss1, rss16 = one.get("rss_mb"), report.get("rss_mb_16_clients")
    # One client's peak counts the load's too where the run measured it (rss_mb_load): a
    # service that peaks while loading needs that memory as much as while serving.
    load = report.get("rss_mb_load")
    peak1 = max(rss1, load) if rss1 is not None and load is not None else rss1
    avx512 = bool(machine.get("avx512f"))

    bound = report.get("engine_bound_s")

    def row(
        target: str,
        measured: str,
        ok: bool | None,
        floor_says: str,
        reachable: bool | None,
        limit_s: float | None = None,
    ) -> dict[str, Any]:
        """`limit_s`: the sample article's time the target allows, for the engine bound."""
        engines_reach = None if limit_s is None or bound is None else bound <= limit_s
        if limit_s is not None and bound is not None:
            floor_says += f"; the measured engines at best: {fmt(bound)} s"
        return {
            "target": target,
            "measured": measured,
            "verdict": _verdict(ok, reachable, engines_reach),
            "floor": floor_says,
        }

    def below(value: float | None, limit: float) -> bool | None:
        return None if value is None else value <= limit

    def at_least(value: float | None, limit: float) -> bool | None:
        return None if value is None else value >= limit

    per_min_floor = 60 / floor if floor else None
    layout_floor = report.get("floor_service_layout_s")
    return [
        row(
            "sample article ≥ 15× the naive pipeline",
            f"{fmt(speedup)}× ({fmt(seed)} s vs {fmt(naive)} s)",
            at_least(speedup, 15),
            f"at the floor: {fmt(naive / floor if floor and naive else None)}×",
            at_least(naive / floor if floor and naive else None, 15),
            naive / 15 if naive else None,
        ),
        row(
            "sample article ≤ 3.0 s on a 2-core AVX-512 machine",
            f"{fmt(seed)} s on {'AVX-512' if avx512 else 'AVX2 only (not the target machine)'}",
            below(seed, 3.0) if avx512 else None,
            f"floor here {fmt(floor)} s",
            below(floor, 3.0),
            3.0 if avx512 else None,
        ),
        row(
            "sample article within 2× of the floor",
            f"{fmt(seed / floor if seed and floor else None)}× the floor",
            None if not (seed and floor) else seed <= 2 * floor,
            f"{fmt(floor)} s, so ≤ {fmt(2 * floor if floor else None)} s"
            + (
                f"; the service's layout (one core per summary): {fmt(layout_floor)} s"
                if layout_floor
                else ""
            ),
            True,
            2 * floor if floor else None,
        ),
        row(
            "first translated paragraph ≤ 1.0 s (stream)",
            _seconds(report.get("first_paragraph_s")),
            below(report.get("first_paragraph_s"), 1.0),
            "—",
            None,
        ),
        row(
            "whole translation ≤ 2.5 s (stream)",
            _seconds(report.get("translation_s")),
            below(report.get("translation_s"), 2.5),
            f"translation floor {fmt(translation_floor.get('floor_s'))} s",
            below(translation_floor.get("floor_s"), 2.5),
        ),
        row(
            "≥ 30 articles/min at 16 clients",
            f"{fmt(report.get('articles_per_min_16_clients'), 1)}",
            at_least(report.get("articles_per_min_16_clients"), 30),
            f"at most {fmt(per_min_floor, 1)}/min at the floor",
            at_least(per_min_floor, 30),
        ),
        row(
            "peak RSS ≤ 700 MB at 1 client",
            _mb(rss1) + ("" if load is None else f"; while loading {_mb(load)}"),
            below(_to_mb(peak1), 700),
            f"int8 weights {fmt(report.get('weights_mb_int8'), 0)} MB",
            below(report.get("weights_mb_int8"), 700),
        ),
        row(
            "peak RSS ≤ 1 GB at 16 clients",
            _mb(rss16),
            below(_to_mb(rss16), 1000),
            f"int8 weights {fmt(report.get('weights_mb_int8'), 0)} MB",
            below(report.get("weights_mb_int8"), 1000),
        ),
        row(
            "ready ≤ 3 s when the CTranslate2 copies exist",
            _seconds(report.get("ready_s")),
            below(report.get("ready_s"), 3.0),
            "—",
            None,
        ),
    ]


def _to_mb(mib: float | None) -> float | None:
    return None if mib is None else mib * MIB


def _load_peak_shown(mib: float | None) -> str:
    return "" if mib is None else f" (peak RSS while loading {fmt(mib, 0)} MiB)"


def _mb(mib: float | None) -> str:
    return "—" if mib is None else f"{fmt(_to_mb(mib), 0)} MB ({fmt(mib, 0)} MiB)"


def _seconds(value: float | None) -> str:
    return "not available" if value is None else f"{fmt(value, 3)} s"


def render_targets(report: dict[str, Any]) -> list[str]:
    rows = report.get("targets") or []
    out = [f"## Targets (issue 10 §4), DEPECHE_ENGINE={report.get('service_engine')}", ""]
    out += table(
        ["target", "measured", "verdict", "what the floor says"],
        [[r["target"], r["measured"], r["verdict"], r["floor"]] for r in rows],
    )
    out += [
        "",
        "— : not measured in this run (no stream, no AVX-512) or nothing to compare. Missed: "
        "the floor says this machine could, the profile above shows where the time goes. Out "
        "of reach where the floor itself is beyond the target: no engine setting gets there on "
        "this machine; less work (fewer FLOPs: a vocabulary map for the output layer, shorter "
        "summaries, a smaller preset) or a faster int8 machine would. Out of reach with these "
        "engines where the hardware could, but the fastest translation row and the fastest "
        "summary decoder of this run already add up to more than the target allows (the "
        "engine bound, under the floor's table): a faster engine would, no service setting.",
        "",
    ]
    return out
