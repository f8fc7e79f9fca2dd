"""Full-size models with random weights, in the folders the service loads.

Each model is rebuilt from its real configuration (`models/configs/`) with random weights
(fixed seed), so every matrix has its real size. The tiny test models' tokenizers sit in
front of them (the real ones cannot be downloaded here), their vocabularies padded with
unused entries up to the model's size; outputs are limited, through `final_logits_bias`
(which costs the same whatever its values), to ids that decode to words. The folder is then
converted to CTranslate2 float32 and int8 by the service's own converter.

The translation model's SentencePiece model is widened first (`widen_marian_tokenizer`): the
tiny one has 1,000 pieces and cuts the sample article into 1,045 tokens, where the real
opus-mt tokenizer makes about 450, so the service rows translated 2.3 times the real source
tokens (more encoder work, and cross-attention caches 2.3 times too large). The bench's own
is trained on the repository's FLORES excerpt (French and English), three OrangeSum articles
and the sample article, and cuts the sample into 627.
"""

from __future__ import annotations

import json
import shutil
import time
from functools import cache
from pathlib import Path
from typing import Any

from benchmark.common import (
    BART,
    CONFIGS,
    FLORES_FR,
    MARIAN,
    PRESET_SUMMARIZERS,
    PRESET_TRANSLATORS,
    ROOT,
    SAMPLE_ARTICLE,
    preset_summary_folder,
    preset_translation_folder,
    say,
)
from benchmark.machine import gemm_probe, int8_rate, memory_bandwidth

REAL_WINDOWS = {
    MARIAN: 512,
    BART: 1024,
    **dict.fromkeys(PRESET_SUMMARIZERS.values(), 1024),
    **dict.fromkeys(PRESET_TRANSLATORS.values(), 512),
}
"""model_max_length of the real tokenizers; the tiny test tokenizers say 128 and 256."""
QUICK_DIMS = {
    "d_model": 64,
    "encoder_layers": 2,
    "decoder_layers": 1,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128,
}
QUICK_VOCAB = 2048  # above the tiny tokenizers' ids (1744 and 1500)
CT2_QUANTIZATIONS = ("int8", "float32")


def model_config(name: str, quick: bool) -> dict[str, Any]:
    """The transformers config the bench builds `name` from (quick: tiny dimensions)."""
    config: dict[str, Any] = json.loads((CONFIGS / f"{name}.config.json").read_text())
    if quick:
        config.update(QUICK_DIMS, vocab_size=QUICK_VOCAB)
        if config.get("model_type") == "marian":
            config["decoder_vocab_size"] = QUICK_VOCAB
    return config


def service_folder(workdir: Path, task: str) -> Path:
    """The transformers folder of `task` (random weights, tiny tokenizer)."""
    return workdir / "service" / task


def ct2_folder(workdir: Path, task: str, quantization: str) -> Path:
    """The service converter's CTranslate2 copy of `service_folder` in `quantization`."""
    return workdir / "ct2" / f"{task}-{quantization}"


def _quiet_transformers() -> None:
    import os
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _copy_tokenizer(source: Path, target: Path, window: int) -> None:
    for path in source.iterdir():
        if path.name in {"config.json", "generation_config.json", "model.safetensors"}:
            continue
        shutil.copy2(path, target / path.name)
    config_path = target / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["model_max_length"] = window
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def _pad_vocabulary(folder: Path, size: int) -> None:
    """Extend a tiny tokenizer's vocabulary with unused entries up to the model's size.

    CTranslate2's converter wants one vocabulary entry per embedding row. The entries contain
    a space, which neither SentencePiece pieces nor byte-level BPE tokens ever do, so
    tokenization is unchanged; generation never reaches them either (final_logits_bias).
    """
    for name in ("vocab.json", "tokenizer.json"):
        path = folder / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        vocab = data["model"]["vocab"] if name == "tokenizer.json" else data
        if sorted(vocab.values()) != list(range(len(vocab))):
            raise RuntimeError(f"{path}: ids are not contiguous; cannot pad the vocabulary")
        for i in range(len(vocab), size):
            vocab[f"<unused {i}>"] = i
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


WIDE_SPM_VOCAB = 6000
"""Asked of SentencePiece for the bench's Marian tokenizer; the repository's text supports
4,687 pieces, which it then takes (`hard_vocab_limit` off)."""
WIDE_SPM_TEXTS = (
    FLORES_FR,
    FLORES_FR.with_suffix(".en"),
    ROOT / "tests" / "data" / "orangesum_3.jsonl",
    SAMPLE_ARTICLE,
)
"""The text it is trained on: the FLORES excerpt in both languages, three OrangeSum articles
(title and body) and the sample article, all in the repository, so every machine builds the
same one. English too, since the service decodes Marian's output with the source model."""


def _wide_spm_lines() -> list[str]:
    lines: list[str] = []
    for path in WIDE_SPM_TEXTS:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            text = "\n".join(
                f"{row['title']}\n{row['text']}"
                for row in map(json.loads, filter(None, text.splitlines()))
            )
        lines.extend(line for line in text.splitlines() if line.strip())
    return lines


@cache
def train_wide_spm() -> bytes:
    """The bench's Marian SentencePiece model (unigram, deterministic), serialized: trained
    as the tiny test models' are (`make_test_models.train_sentencepiece`)."""
    from make_test_models import train_sentencepiece

    return train_sentencepiece(_wide_spm_lines(), WIDE_SPM_VOCAB, hard_vocab_limit=False)


def spm_word_pieces(proto: bytes) -> set[str]:
    """The ordinary pieces of a SentencePiece model (`make_test_models.spm_pieces`)."""
    from make_test_models import spm_pieces

    return set(spm_pieces(proto))


def widen_marian_tokenizer(folder: Path, proto: bytes) -> int:
    """Put the bench's SentencePiece model in a Marian folder as both source and target model,
    its new pieces appended to vocab.json; every piece already there keeps its id, so the
    special ids and the allowed outputs stay. Returns the pieces added."""
    (folder / "source.spm").write_bytes(proto)
    (folder / "target.spm").write_bytes(proto)
    path = folder / "vocab.json"
    vocab: dict[str, int] = json.loads(path.read_text(encoding="utf-8"))
    before = len(vocab)
    for piece in sorted(spm_word_pieces(proto)):
        vocab.setdefault(piece, len(vocab))
    path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    return len(vocab) - before


def _allowed_output_ids(
    task: str, test_models: Path, decodable: set[str] | None = None
) -> list[int]:
    """Ids the random models may emit, so their text decodes and re-tokenizes sanely.

    Translation: Marian pieces that start a word and are one token for the summary tokenizer
    too, so the English handed to the summarizer has about as many tokens as the translation;
    with `decodable`, only pieces of the SentencePiece model that will decode them.
    Summary: word-initial BPE tokens.
    """
    from transformers import AutoTokenizer

    if task == "translation":
        pieces = json.loads((test_models / "translation" / "vocab.json").read_text())
        bpe = AutoTokenizer.from_pretrained(test_models / "summary")
        allowed = [
            i
            for piece, i in pieces.items()
            if piece.startswith("\u2581")
            and piece[1:].isalpha()
            and (decodable is None or piece in decodable)
            and len(bpe(" " + piece[1:], add_special_tokens=False)["input_ids"]) == 1
        ]
    else:
        tokens = json.loads((test_models / "summary" / "vocab.json").read_text())
        allowed = [i for t, i in tokens.items() if t.startswith("\u0120") and t[1:].isalpha()]
    return sorted(allowed)


def _build(
    name: str,
    task: str,
    spec: dict[str, Any],
    folder_name: str | None = None,
    quantizations: tuple[str, ...] = CT2_QUANTIZATIONS,
) -> dict[str, Any]:
    """One model: random weights, tiny tokenizer, forced-length generation config, and its
    CTranslate2 copies, in `folder_name` (default: the task's own folders)."""
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, GenerationConfig

    from service.engines.convert import convert

    started = time.perf_counter()
    work, test_models = Path(spec["workdir"]), Path(spec["test_models"])
    config = AutoConfig.from_pretrained(CONFIGS / f"{name}.config.json")
    if spec["quick"]:
        config.update(QUICK_DIMS)
        config.vocab_size = QUICK_VOCAB
        if config.model_type == "marian":
            config.decoder_vocab_size = QUICK_VOCAB
    tiny = json.loads((test_models / task / "config.json").read_text())
    for key in ("pad_token_id", "decoder_start_token_id", "eos_token_id", "bos_token_id"):
        setattr(config, key, tiny[key])
    if hasattr(config, "forced_eos_token_id"):
        config.forced_eos_token_id = tiny.get("forced_eos_token_id")
    torch.manual_seed(spec["seed"])
    model = AutoModelForSeq2SeqLM.from_config(config)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    say(f"  {name}: {params / 1e6:.2f} M parameters, random weights (seed {spec['seed']})")
    # The quick models' vocabulary (QUICK_VOCAB) has no room for the wider tokenizer.
    wide = train_wide_spm() if config.model_type == "marian" and not spec["quick"] else None
    decodable = spm_word_pieces(wide) if wide is not None else None
    allowed = torch.tensor(_allowed_output_ids(task, test_models, decodable))
    with torch.no_grad():
        bias = torch.full_like(model.final_logits_bias, -1e4)
        bias[0, allowed] = 0.0
        bias[0, tiny["eos_token_id"]] = 0.0
        model.final_logits_bias.copy_(bias)
    # The model's own decoding settings with the tiny tokenizer's special ids, and every
    # output forced to the service rows' length (max_length counts the decoder start token;
    # one below it, </s> is forced). The engine rows pass their own lengths per call.
    generation = json.loads((CONFIGS / f"{name}.generation_config.json").read_text())
    tiny_generation = json.loads((test_models / task / "generation_config.json").read_text())
    for key in ("pad_token_id", "decoder_start_token_id", "eos_token_id", "bos_token_id"):
        if key in tiny_generation:
            generation[key] = tiny_generation[key]
    if "bad_words_ids" in tiny_generation:
        generation["bad_words_ids"] = tiny_generation["bad_words_ids"]
    forced = spec["service_lengths"][task]
    generation.update(max_length=forced + 1, min_length=forced)
    model.generation_config = GenerationConfig.from_dict(generation)
    folder = service_folder(work, folder_name or task)
    model.save_pretrained(folder)
    _copy_tokenizer(test_models / task, folder, REAL_WINDOWS[name])
    if wide is not None:
        added = widen_marian_tokenizer(folder, wide)
        say(f"  {name}: tokenizer widened by {added} SentencePiece pieces (the bench's own)")
    _pad_vocabulary(folder, model.config.vocab_size)
    del model
    for quantization in quantizations:
        convert(
            folder, ct2_folder(work, folder_name or task, quantization), quantization, force=True
        )
    return {
        "parameters_m": round(params / 1e6, 2),
        "prepare_s": round(time.perf_counter() - started, 1),
        "service_allowed_output_ids": len(allowed),
    }


def worker_prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure the machine (matrix products, memory bandwidth), then build both models."""
    _quiet_transformers()
    import torch

    torch.set_num_threads(spec["threads"])
    gemm = gemm_probe(torch)
    say(f"  matrix product 512^3, GFLOP/s: {gemm}")
    bandwidth = memory_bandwidth(torch, 32 if spec["quick"] else 512)
    say(f"  memory bandwidth, GB/s: {bandwidth}")
    # One core's share: the service runs each summary call on one thread (its 2 x 1 layout).
    torch.set_num_threads(1)
    gemm["int8_one_core"] = int8_rate(torch)
    bandwidth["read_gbps_one_core"] = memory_bandwidth(torch, 32 if spec["quick"] else 512)[
        "read_gbps"
    ]
    torch.set_num_threads(spec["threads"])
    say(
        f"  one core: int8 {gemm['int8_one_core']} GFLOP/s, "
        f"read {bandwidth['read_gbps_one_core']} GB/s"
    )
    report = {
        name: _build(name, task, spec)
        for name, task in ((MARIAN, "translation"), (BART, "summary"))
    }
    # The other presets' models, each for its own row (CTranslate2 int8 only).
    presets = {
        name: _build(name, "summary", spec, preset_summary_folder(preset), ("int8",))
        for preset, name in PRESET_SUMMARIZERS.items()
    }
    presets |= {
        name: _build(name, "translation", spec, preset_translation_folder(preset), ("int8",))
        for preset, name in PRESET_TRANSLATORS.items()
    }
    return {"models": report, "preset_models": presets, "gemm_gflops": gemm, "memory": bandwidth}
