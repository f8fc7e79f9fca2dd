"""The floor: the least time the sample article can take on this machine, from the models'
shapes, the measured int8 matrix rate and the measured memory bandwidth.

floor = model FLOPs / int8 rate + decoder steps x decoder weight bytes / memory bandwidth

- FLOPs count 2 per multiply-add of every matrix product: encoder layers per source token,
  decoder layers and the output layer per generated token and beam, attention scores and
  their weighted sums, and the cross-attention keys and values once per source token.
- A decoder step reads every decoder weight it uses (int8: one byte each; the output layer
  d_model x vocabulary included, the cross-attention keys/values projections not, they run
  once). Steps are sequential: the floor takes the translation's whole article as one batch (the
  fewest sequential steps, whatever the service's batch budget), so its steps are its longest
  sentence's; the summary's are its length.
- Biases, layer norms, softmax and embedding lookups are left out: the floor is a bound.

The engine bound (`engine_bound`) is the other side: the least the sample article takes on the
engines the same run measured, from their own rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Shape:
    """What the cost of an encoder-decoder depends on."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_ffn: int
    decoder_ffn: int
    vocab: int

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Shape:
        return cls(
            d_model=int(config["d_model"]),
            encoder_layers=int(config["encoder_layers"]),
            decoder_layers=int(config["decoder_layers"]),
            encoder_ffn=int(config["encoder_ffn_dim"]),
            decoder_ffn=int(config["decoder_ffn_dim"]),
            vocab=int(config.get("decoder_vocab_size") or config["vocab_size"]),
        )

    @property
    def encoder_layer_params(self) -> int:
        """Matrix weights of one encoder layer: Q, K, V, O and the two FFN matrices."""
        return 4 * self.d_model**2 + 2 * self.d_model * self.encoder_ffn

    @property
    def decoder_step_params(self) -> int:
        """Matrix weights one decoder step uses per layer: self-attention Q, K, V, O,
        cross-attention Q and O, and the FFN (cross K and V run once per source token)."""
        return 6 * self.d_model**2 + 2 * self.d_model * self.decoder_ffn

    @property
    def output_params(self) -> int:
        return self.d_model * self.vocab


@dataclass(frozen=True)
class Cost:
    """FLOPs of one model's work on one input set, and its decoder's weight reads."""

    encoder_flops: float
    decoder_flops: float
    output_layer_flops: float
    """Part of decoder_flops: the output layer alone."""
    steps: int
    """Sequential decoder steps."""
    step_bytes: float
    """Weight bytes read per decoder step (int8)."""

    @property
    def flops(self) -> float:
        return self.encoder_flops + self.decoder_flops


def cost(shape: Shape, sources: Sequence[int], targets: Sequence[int], beams: int) -> Cost:
    """The cost of translating (or summarizing) sentences of `sources` tokens into `targets`
    tokens at `beams` beams, the sentences batched together."""
    d = shape.d_model
    encoder = 0.0
    decoder = 0.0
    output = 0.0
    for n, t in zip(sources, targets, strict=True):
        # Encoder: matrix weights per token, and QK^T plus AV over n x n per layer.
        encoder += shape.encoder_layers * (2 * shape.encoder_layer_params * n + 4 * n * n * d)
        # Cross-attention keys and values of the source, once.
        decoder += shape.decoder_layers * 2 * (2 * d * d) * n
        for step in range(1, t + 1):
            attention = 4 * d * (step + n)  # self over the steps so far, cross over the source
            per_token = shape.decoder_layers * (2 * shape.decoder_step_params + attention)
            decoder += beams * (per_token + 2 * shape.output_params)
        output += beams * t * 2 * shape.output_params
    step_bytes = shape.decoder_layers * shape.decoder_step_params + shape.output_params
    return Cost(encoder, decoder, output, max(targets, default=0), float(step_bytes))


def floor_seconds(costs: dict[str, Cost], int8_gflops: float, read_gbps: float) -> dict[str, Any]:
    """The floor of each part and of all together, with the numbers that make it."""
    parts: dict[str, Any] = {}
    for name, c in costs.items():
        compute_s = c.flops / (int8_gflops * 1e9)
        memory_s = c.steps * c.step_bytes / (read_gbps * 1e9)
        parts[name] = {
            **asdict(c),
            "flops": c.flops,
            "output_layer_share": c.output_layer_flops / c.decoder_flops if c.decoder_flops else 0,
            "compute_s": round(compute_s, 4),
            "memory_s": round(memory_s, 4),
            "floor_s": round(compute_s + memory_s, 7),
        }
    return {
        "int8_gflops": int8_gflops,
        "read_gbps": read_gbps,
        "parts": parts,
        "floor_s": round(sum(p["floor_s"] for p in parts.values()), 7),
    }


def sample_floor(
    configs: dict[str, dict[str, Any]],
    sizes: dict[str, Any],
    int8_gflops: float,
    read_gbps: float,
    *,
    translation_beams: int,
    summary_beams: int,
) -> dict[str, Any]:
    """The sample article's floor: its translation (the engine rows' sentences) and its
    summary (the engine rows' summary lengths) at the service's beams."""
    sample = sizes["sample"]
    costs = {
        "translation": cost(
            Shape.from_config(configs["translation"]),
            sample["sources"],
            sample["targets"],
            translation_beams,
        ),
        "summary": cost(
            Shape.from_config(configs["summary"]),
            [sizes["summary_source"]],
            [sizes["summary_target"]],
            summary_beams,
        ),
    }
    result = floor_seconds(costs, int8_gflops, read_gbps)
    result["beams"] = {"translation": translation_beams, "summary": summary_beams}
    return result


def _runs_layout(row: dict[str, Any], layout: dict[str, Any], *, inter: bool) -> bool:
    """Whether an engine row runs the engine, precision and threads the service reported
    (`meta.models[]`: engine label such as "ctranslate2 (int8)", threads inter/intra)."""
    threads = layout.get("threads") or {}
    return (
        f"{row.get('engine')} ({row.get('precision')})" == layout.get("engine")
        and row.get("intra") == threads.get("intra")
        and (not inter or row.get("inter") == threads.get("inter"))
    )


def _has_service_layout(
    translation: dict[str, Any], summary: dict[str, Any], layouts: dict[str, dict[str, Any]]
) -> bool:
    """Whether the rows include the layout the service reported (`layouts`: its
    `meta.models[]` by task): a translation row with its engine, precision and threads, a
    summary row with its engine, precision and threads per call."""
    return any(
        _runs_layout(r, layouts.get("translation") or {}, inter=True) for r in translation.values()
    ) and any(_runs_layout(r, layouts.get("summary") or {}, inter=False) for r in summary.values())


def engine_bound(
    translation: dict[str, Any],
    summary: dict[str, Any],
    summary_beams: int,
    layouts: dict[str, dict[str, Any]],
) -> dict[str, Any] | None:
    """The least the sample article can take on the engines this run measured: the fastest
    run of any translation row on the sample article, plus the fastest decoder of the default
    summarizer at the service's beam (the profile's decoder time: every forced step, the
    encoder left out).

    The floor says what the hardware allows; this says what the engines at hand allow. The
    service runs the same engines on the same forced lengths and cannot start the sample's
    one summary call before its translation ends, so a target below this bound is out of
    reach with these engines, whatever the service does around them. That holds only when
    the rows include the layout the service runs (`layouts`: its `meta.models[]` by task; a
    translation row with its engine, precision and threads, a summary row with its engine,
    precision and threads per call), so None when they do not, or a side was not measured."""
    # The default models' rows: the other presets' rows have their own folder.
    defaults = {label: row for label, row in summary.items() if row.get("folder") is None}
    translators = {label: row for label, row in translation.items() if row.get("folder") is None}
    if not _has_service_layout(translators, defaults, layouts):
        return None
    runs = [
        (min(row["results"]["sample_batched"]["times_s"]), label)
        for label, row in translators.items()
        if (row.get("results") or {}).get("sample_batched", {}).get("times_s")
    ]
    beam = f"beam{summary_beams}"
    profiled = {
        label: ((row.get("profile") or {}).get("steps") or {}).get(beam)
        for label, row in defaults.items()
    }
    decoders = [(steps["decoder_s"], label, steps) for label, steps in profiled.items() if steps]
    if not runs or not decoders:
        return None
    translation_s, translation_row = min(runs)
    decoder_s, summary_row, steps = min(decoders, key=lambda item: item[0])
    return {
        "translation_s": round(translation_s, 4),
        "translation_row": translation_row,
        "summary_decoder_s": round(decoder_s, 4),
        "summary_row": summary_row,
        "summary_steps": steps["steps"],
        "summary_step_s": steps["step_s"],
        "summary_beams": summary_beams,
        "bound_s": round(translation_s + decoder_s, 4),
    }


def service_layout_floor(floor: dict[str, Any], one_core: dict[str, Any]) -> dict[str, Any]:
    """The floor of the service's CPU layout: the translation on every core (its one-thread
    workers side by side), the summary call on one core (one thread: CTranslate2 decodes
    slower at two, the engine rows show it), at one core's measured int8 rate and bandwidth."""
    translation = floor["parts"]["translation"]["floor_s"]
    summary = one_core["parts"]["summary"]
    return {
        "translation_s": translation,
        "summary_s": summary["floor_s"],
        "summary_compute_s": summary["compute_s"],
        "summary_memory_s": summary["memory_s"],
        "int8_gflops_one_core": one_core["int8_gflops"],
        "read_gbps_one_core": one_core["read_gbps"],
        "floor_s": round(translation + summary["floor_s"], 7),
    }
