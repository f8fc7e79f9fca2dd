"""Build tiny, deterministic stand-in checkpoints for Dépêche's tests (no model hub needed).

This script owns the test checkpoints and their recipe: ``scripts/make_test_models.py`` plus its
inputs in ``tests/data/`` (``flores_devtest_400.{fr,en}``, ``memorized_pairs.tsv``,
``placeholder_pairs.tsv``, attribution in ``ATTRIBUTION.md``). Running
``python scripts/make_test_models.py --out DIR`` writes:

``DIR/translation``
    A tiny ``MarianMTModel`` with a real ``MarianTokenizer`` (``source.spm``, ``target.spm``,
    shared ``vocab.json``), laid out like ``Helsinki-NLP/opus-mt-fr-en``: ``</s>`` = 0,
    ``<unk>`` = 1, ``<pad>`` = last id (also the decoder start id), ``max_position_embeddings``
    = 128, generation config ``num_beams=4, max_length=128``. It is trained until greedy and
    beam-4 decoding, one sentence at a time and as one padded batch, reproduce every pair of
    ``memorized_pairs.tsv`` and ``placeholder_pairs.tsv`` exactly; the build fails (exit
    status 1) otherwise.
``DIR/summary``
    A tiny ``BartForConditionalGeneration`` with a byte-level BPE ``BartTokenizer`` (``<s>`` = 0,
    ``<pad>`` = 1, ``</s>`` = 2, ``<unk>`` = 3, ``<mask>`` last), laid out like
    ``sshleifer/distilbart-cnn-12-6``, ``max_position_embeddings`` = 256, briefly trained to
    copy the lead sentence of a short English passage. Its output looks sentence-like; it is
    not a real summary.
``DIR/summary-planted``
    The same BART shape and tokenizer as ``DIR/summary``, trained until greedy, beam-2 and
    beam-4 decoding turn the English article of ``tests/data/planted_summary.json`` into
    exactly its summary, whose second sentence carries a number the article does not have
    (38 for 28), so an end-to-end test knows which key point grounding must flag. Built after
    the other two, from a fresh seed, so that they stay byte for byte what they were.
``DIR/BUILD_INFO.json``
    Seed, library versions, recipe hash and parameter counts. A later run with the same seed,
    recipe and library versions reuses ``DIR`` instead of rebuilding (unless ``--force``).

Both checkpoints load unchanged with ``AutoTokenizer.from_pretrained(path)`` and
``AutoModelForSeq2SeqLM.from_pretrained(path)``. For pytest, load this file with ``importlib``
and call :func:`build_test_models`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import (
        BartForConditionalGeneration,
        MarianMTModel,
        MarianTokenizer,
        PreTrainedModel,
        PreTrainedTokenizerBase,
    )

DATA_DIR: Path = Path(__file__).resolve().parent.parent / "tests" / "data"
FR_FILE: Path = DATA_DIR / "flores_devtest_400.fr"
EN_FILE: Path = DATA_DIR / "flores_devtest_400.en"
PAIRS_FILE: Path = DATA_DIR / "memorized_pairs.tsv"
# Two memorized pairs with a term replaced by the glossary's placeholder (service/glossary):
# the tiny model then copies it through, so tests see a glossary applied end to end.
PLACEHOLDER_PAIRS_FILE: Path = DATA_DIR / "placeholder_pairs.tsv"
PLANTED_FILE: Path = DATA_DIR / "planted_summary.json"

BUILD_INFO_NAME = "BUILD_INFO.json"
TRANSLATION_DIR = "translation"
SUMMARY_DIR = "summary"
PLANTED_DIR = "summary-planted"
FORMAT_VERSION = 1
NUM_THREADS = 2  # part of the recipe: another thread count gives (slightly) different weights

# Translation model (Marian, shaped like Helsinki-NLP/opus-mt-fr-en, scaled down).
SPM_VOCAB_SIZE = 1000
MARIAN_MAX_POSITIONS = 128
MARIAN_LR = 3e-3
MARIAN_CHECK_EVERY = 25
MARIAN_MAX_STEPS = 1500
MARIAN_LOSS_TARGET = 0.02

# Summary model (BART, shaped like sshleifer/distilbart-cnn-12-6, scaled down).
BPE_VOCAB_SIZE = 1500
BART_MAX_POSITIONS = 256
BART_LR = 1e-2
BART_STEPS = 100  # a fixed step count (~15 s on 2 cores), not a timer: keeps builds deterministic
BART_BATCH = 16
BART_POOL_SIZE = 32
BART_PASSAGE_MAX_TOKENS = 192

# Planted summarizer: one article, one summary, learnt by heart.
PLANTED_LR = 3e-3
PLANTED_CHECK_EVERY = 25
PLANTED_MAX_STEPS = 600
PLANTED_MAX_LENGTH = 128


def log(message: str) -> None:
    """Print one short progress line."""
    print(f"[make_test_models] {message}", flush=True)


def read_lines(path: Path) -> list[str]:
    """Return the lines of a UTF-8, LF-terminated text file, without their newline."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def load_corpus() -> tuple[list[str], list[str]]:
    """Return the aligned French and English excerpt lines."""
    fr, en = read_lines(FR_FILE), read_lines(EN_FILE)
    if len(fr) != len(en):
        raise ValueError(f"{FR_FILE.name} has {len(fr)} lines but {EN_FILE.name} has {len(en)}")
    return fr, en


def load_memorized_pairs() -> list[tuple[str, str]]:
    """Return the (French, English) pairs the translation model must reproduce exactly: the
    memorized pairs, then the placeholder pairs."""
    pairs: list[tuple[str, str]] = []
    for path in (PAIRS_FILE, PLACEHOLDER_PAIRS_FILE):
        for number, line in enumerate(read_lines(path), start=1):
            fields = line.split("\t")
            if len(fields) != 2:
                raise ValueError(f"{path.name}:{number}: expected 'fr<TAB>en'")
            pairs.append((fields[0], fields[1]))
    return pairs


def package_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour the checkpoints depend on."""
    result: dict[str, str] = {}
    for name in ("torch", "transformers", "tokenizers", "sentencepiece"):
        try:
            result[name] = version(name)
        except PackageNotFoundError:
            result[name] = "missing"
    return result


def recipe_hash() -> str:
    """SHA-256 over this script and its data files: any change invalidates cached builds."""
    digest = hashlib.sha256()
    recipe = (FR_FILE, EN_FILE, PAIRS_FILE, PLACEHOLDER_PAIRS_FILE, PLANTED_FILE)
    for path in (Path(__file__).resolve(), *recipe):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def expected_build_key(seed: int) -> dict[str, Any]:
    """The BUILD_INFO fields that must match for a cached build to be reused."""
    return {
        "format": FORMAT_VERSION,
        "seed": seed,
        "recipe_sha256": recipe_hash(),
        "versions": package_versions(),
    }


def cached_build_is_valid(out: Path, seed: int) -> bool:
    """True if ``out`` holds a complete build made with this seed, recipe and library set."""
    info_path = out / BUILD_INFO_NAME
    if not info_path.is_file():
        return False
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(info, dict):
        return False
    if any(info.get(key) != value for key, value in expected_build_key(seed).items()):
        return False
    needed = ("config.json", "generation_config.json", "model.safetensors", "tokenizer_config.json")
    return all(
        (out / sub / name).is_file()
        for sub in (TRANSLATION_DIR, SUMMARY_DIR, PLANTED_DIR)
        for name in needed
    )


def seed_everything(seed: int) -> None:
    """Seed the torch and SentencePiece generators; pin torch to deterministic CPU kernels.

    Python-level sampling uses its own ``random.Random(seed)`` instances.
    """
    import sentencepiece
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(NUM_THREADS)
    torch.use_deterministic_algorithms(True)
    sentencepiece.set_random_generator_seed(seed)


def count_parameters(model: PreTrainedModel) -> int:
    """Number of distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters())


def masked_labels(labels: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Labels with padding replaced by -100 so the loss ignores it."""
    labels = labels.clone()
    labels[labels == pad_id] = -100
    return labels


# --------------------------------------------------------------------------------------------
# Translation: MarianTokenizer + MarianMTModel
# --------------------------------------------------------------------------------------------


def train_sentencepiece(
    lines: Sequence[str], vocab_size: int, *, hard_vocab_limit: bool = True
) -> bytes:
    """Train a deterministic SentencePiece unigram model and return its serialized proto.
    `hard_vocab_limit=False`: take as many pieces as the text supports, up to `vocab_size`."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=hard_vocab_limit,
        character_coverage=1.0,  # keep every character seen: accents, « » ’, etc.
        num_threads=1,
        shuffle_input_sentence=False,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
    )
    return model.getvalue()


def spm_pieces(proto: bytes) -> list[str]:
    """The ordinary pieces of a SentencePiece model (control and unknown symbols left out)."""
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_proto=proto)
    return [
        processor.IdToPiece(i)
        for i in range(processor.GetPieceSize())
        if not (processor.IsControl(i) or processor.IsUnknown(i))
    ]


def build_marian_tokenizer(work: Path, fr: Sequence[str], en: Sequence[str]) -> MarianTokenizer:
    """Train source/target SentencePiece models and build a shared opus-mt style vocab.json.

    As in the converted opus-mt checkpoints, vocab.json maps ``</s>`` to 0 and ``<unk>`` to 1,
    then every source and target piece (union), and ``<pad>`` last. MarianTokenizer turns text
    into pieces with the SentencePiece models and pieces into ids with vocab.json only.
    """
    from transformers import MarianTokenizer

    source_proto = train_sentencepiece(fr, SPM_VOCAB_SIZE)
    target_proto = train_sentencepiece(en, SPM_VOCAB_SIZE)
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for piece in spm_pieces(source_proto) + spm_pieces(target_proto):
        vocab.setdefault(piece, len(vocab))
    vocab["<pad>"] = len(vocab)

    (work / "source.spm").write_bytes(source_proto)
    (work / "target.spm").write_bytes(target_proto)
    (work / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
        return MarianTokenizer(
            source_spm=str(work / "source.spm"),
            target_spm=str(work / "target.spm"),
            vocab=str(work / "vocab.json"),
            source_lang="fr",
            target_lang="en",
            model_max_length=MARIAN_MAX_POSITIONS,
        )


def build_marian_model(tokenizer: MarianTokenizer) -> MarianMTModel:
    """A randomly initialised MarianMTModel with opus-mt-fr-en's config, scaled down."""
    from transformers import GenerationConfig, MarianConfig, MarianMTModel

    vocab_size = len(tokenizer)
    pad_id = tokenizer.pad_token_id
    eos_id = tokenizer.eos_token_id
    config = MarianConfig(
        vocab_size=vocab_size,
        decoder_vocab_size=vocab_size,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=MARIAN_MAX_POSITIONS,
        activation_function="swish",
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        init_std=0.02,
        scale_embedding=True,
        static_position_embeddings=True,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        normalize_before=False,
        normalize_embedding=False,
        add_final_layer_norm=False,
        add_bias_logits=False,
        encoder_layerdrop=0.0,
        decoder_layerdrop=0.0,
        use_cache=True,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        bos_token_id=0,
        forced_eos_token_id=eos_id,
        decoder_start_token_id=pad_id,
        architectures=["MarianMTModel"],
    )
    model = MarianMTModel(config)
    model.generation_config = GenerationConfig(
        bad_words_ids=[[pad_id]],
        bos_token_id=0,
        decoder_start_token_id=pad_id,
        eos_token_id=eos_id,
        forced_eos_token_id=eos_id,
        pad_token_id=pad_id,
        max_length=MARIAN_MAX_POSITIONS,
        num_beams=4,
        renormalize_logits=True,
    )
    return model


def decode_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    **generate_kwargs: Any,
) -> list[str]:
    """Generate for ``texts`` as one padded batch and decode without special tokens."""
    import torch

    inputs = tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True)
    with torch.inference_mode():
        output = model.generate(**inputs, **generate_kwargs)
    return list(tokenizer.batch_decode(output, skip_special_tokens=True))


def marian_failures(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, pairs: Sequence[tuple[str, str]]
) -> list[str]:
    """Describe every memorized pair that greedy/beam, single/batched decoding gets wrong."""
    model.eval()
    sources = [fr for fr, _ in pairs]
    failures: list[str] = []
    for mode, kwargs in (("greedy", {"num_beams": 1}), ("beam-4", {})):
        for fr, en in pairs:
            got = decode_batch(model, tokenizer, [fr], **kwargs)[0]
            if got != en:
                failures.append(f"{mode} single: {fr!r} -> {got!r}, expected {en!r}")
        for (fr, en), got in zip(
            pairs, decode_batch(model, tokenizer, sources, **kwargs), strict=True
        ):
            if got != en:
                failures.append(f"{mode} batch: {fr!r} -> {got!r}, expected {en!r}")
    return failures


def train_until(
    model: PreTrainedModel,
    batch: Mapping[str, torch.Tensor],
    labels: torch.Tensor,
    lr: float,
    check_every: int,
    max_steps: int,
    learnt: Callable[[int], bool],
) -> int | None:
    """AdamW on one fixed batch, `check_every` steps at a time, until `learnt(steps so far)`
    says so (asked in eval mode); the steps taken, or None when `max_steps` run out."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    step = 0
    while step < max_steps:
        model.train()
        for _ in range(check_every):
            loss = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels
            ).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
        model.eval()
        if learnt(step):
            return step
    return None


def train_marian(
    model: MarianMTModel, tokenizer: MarianTokenizer, pairs: Sequence[tuple[str, str]]
) -> int:
    """Train until every memorized pair is reproduced; return the number of steps taken."""
    import torch

    batch = tokenizer(
        [fr for fr, _ in pairs],
        text_target=[en for _, en in pairs],
        return_tensors="pt",
        padding=True,
    )
    labels = masked_labels(batch["labels"], tokenizer.pad_token_id)

    def learnt(step: int) -> bool:
        with torch.inference_mode():
            eval_loss = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels
            ).loss.item()
        if eval_loss < MARIAN_LOSS_TARGET and not marian_failures(model, tokenizer, pairs):
            log(f"translation: memorized {len(pairs)} pairs in {step} steps (loss {eval_loss:.4f})")
            return True
        if step % (4 * MARIAN_CHECK_EVERY) == 0:
            log(f"translation: step {step}, loss {eval_loss:.4f}")
        return False

    steps = train_until(
        model, batch, labels, MARIAN_LR, MARIAN_CHECK_EVERY, MARIAN_MAX_STEPS, learnt
    )
    if steps is None:
        raise RuntimeError(
            f"translation model did not memorize the pairs in {MARIAN_MAX_STEPS} steps"
        )
    return steps


def build_translation(
    target: Path, work: Path, fr: Sequence[str], en: Sequence[str], pairs: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """Build, train and save the translation checkpoint; return facts for BUILD_INFO."""
    started = time.perf_counter()
    tokenizer = build_marian_tokenizer(work, fr, en)
    model = build_marian_model(tokenizer)
    log(f"translation: vocab {len(tokenizer)}, {count_parameters(model):,} parameters, training")
    steps = train_marian(model, tokenizer, pairs)
    model.eval()
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    log(f"translation: saved in {time.perf_counter() - started:.1f} s")
    return {
        "class": type(model).__name__,
        "tokenizer_class": type(tokenizer).__name__,
        "parameters": count_parameters(model),
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "unk_token_id": tokenizer.unk_token_id,
        "max_position_embeddings": MARIAN_MAX_POSITIONS,
        "train_steps": steps,
        "memorized_pairs": len(pairs),
    }


# --------------------------------------------------------------------------------------------
# Summary: BartTokenizer (byte-level BPE) + BartForConditionalGeneration
# --------------------------------------------------------------------------------------------


def build_bart_tokenizer(work: Path, en: Sequence[str]) -> PreTrainedTokenizerBase:
    """Train a byte-level BPE on the English lines and wrap it as a BART tokenizer.

    Special ids follow facebook/bart: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, and
    ``<mask>`` as the last id.
    """
    from tokenizers import ByteLevelBPETokenizer
    from transformers import AddedToken, BartTokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(en),
        vocab_size=BPE_VOCAB_SIZE - 1,  # <mask> is appended below
        min_frequency=2,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        show_progress=False,
    )
    bpe_dir = work / "bpe"
    bpe_dir.mkdir()
    bpe.save_model(str(bpe_dir))
    vocab_path = bpe_dir / "vocab.json"
    vocab: dict[str, int] = json.loads(vocab_path.read_text(encoding="utf-8"))
    vocab["<mask>"] = len(vocab)
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    # In transformers 5 the vocab.json/merges.txt conversion happens in from_pretrained.
    return BartTokenizer.from_pretrained(
        str(bpe_dir),
        mask_token=AddedToken("<mask>", lstrip=True, rstrip=False),
        model_max_length=BART_MAX_POSITIONS,
    )


def build_bart_model(tokenizer: PreTrainedTokenizerBase) -> BartForConditionalGeneration:
    """A randomly initialised BART with distilbart-cnn-12-6's config, scaled down."""
    from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig

    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=64,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=BART_MAX_POSITIONS,
        activation_function="gelu",
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        init_std=0.02,
        scale_embedding=False,
        normalize_embedding=True,
        static_position_embeddings=False,
        add_final_layer_norm=False,
        normalize_before=False,
        encoder_layerdrop=0.0,
        decoder_layerdrop=0.0,
        use_cache=True,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_eos_token_id=2,
        architectures=["BartForConditionalGeneration"],
    )
    model = BartForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
        forced_eos_token_id=2,
        num_beams=4,
        length_penalty=2.0,
        no_repeat_ngram_size=3,
        early_stopping=True,
        min_length=10,
        max_length=60,
    )
    return model


def lead_pool(
    en: Sequence[str], tokenizer: PreTrainedTokenizerBase, rng: random.Random
) -> list[tuple[str, str]]:
    """Draw (passage, lead sentence) examples from runs of 3-6 consecutive English lines.

    Passages fit the model window; lead sentences are 12-50 tokens so that they sit between
    the generation config's min_length and max_length. A small pool is learnt quickly and
    reliably (the decoder memorises its lead sentences), which is what makes the output read
    like a sentence after a few seconds of training on 2 CPU cores.
    """
    pool: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()
    while len(pool) < BART_POOL_SIZE:
        size = rng.randint(3, 6)
        start = rng.randrange(0, len(en) - size + 1)
        if (start, size) in seen:
            continue
        seen.add((start, size))
        window = en[start : start + size]
        passage = " ".join(window)
        lead_tokens = len(tokenizer(window[0], verbose=False)["input_ids"])
        passage_tokens = len(tokenizer(passage, verbose=False)["input_ids"])
        if 12 <= lead_tokens <= 50 and passage_tokens <= BART_PASSAGE_MAX_TOKENS:
            pool.append((passage, window[0]))
    return pool


def train_bart(
    model: BartForConditionalGeneration,
    tokenizer: PreTrainedTokenizerBase,
    en: Sequence[str],
    seed: int,
) -> float:
    """Train a fixed number of steps on the lead-sentence task; return the last batch loss."""
    import torch

    rng = random.Random(seed)
    pool = lead_pool(en, tokenizer, rng)
    optimizer = torch.optim.AdamW(model.parameters(), lr=BART_LR, weight_decay=0.0)
    model.train()
    loss_value = float("nan")
    for step in range(1, BART_STEPS + 1):
        examples = [rng.choice(pool) for _ in range(BART_BATCH)]
        sources = [passage for passage, _ in examples]
        targets = [lead for _, lead in examples]
        batch = tokenizer(
            sources,
            text_target=targets,
            max_length=BART_MAX_POSITIONS,
            truncation=True,
            padding=True,
            return_tensors="pt",
        )
        labels = masked_labels(batch["labels"], tokenizer.pad_token_id)
        loss = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels
        ).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = loss.item()
        if step % 50 == 0:
            log(f"summary: step {step}/{BART_STEPS}, loss {loss_value:.3f}")
    model.eval()
    return loss_value


def build_summary(target: Path, work: Path, en: Sequence[str], seed: int) -> dict[str, Any]:
    """Build, train and save the summary checkpoint; return facts for BUILD_INFO."""
    started = time.perf_counter()
    tokenizer = build_bart_tokenizer(work, en)
    model = build_bart_model(tokenizer)
    log(f"summary: vocab {len(tokenizer)}, {count_parameters(model):,} parameters, training")
    loss = train_bart(model, tokenizer, en, seed)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    # BartTokenizer in transformers 5 saves tokenizer.json; keep the classic files as well.
    for name in ("vocab.json", "merges.txt"):
        if not (target / name).exists():
            shutil.copyfile(work / "bpe" / name, target / name)
    log(f"summary: saved in {time.perf_counter() - started:.1f} s")
    return {
        "class": type(model).__name__,
        "tokenizer_class": type(tokenizer).__name__,
        "parameters": count_parameters(model),
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "mask_token_id": tokenizer.mask_token_id,
        "max_position_embeddings": BART_MAX_POSITIONS,
        "train_steps": BART_STEPS,
        "final_train_loss": round(loss, 4),
    }


# --------------------------------------------------------------------------------------------
# Planted summarizer: a fixed summary with one wrong number, for the grounding tests
# --------------------------------------------------------------------------------------------


def load_planted() -> tuple[str, str]:
    """The planted example: (the article's paragraphs joined by spaces, the summary)."""
    data = json.loads(PLANTED_FILE.read_text(encoding="utf-8"))
    return " ".join(data["article"]), data["summary"]


def planted_failures(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, article: str, summary: str
) -> list[str]:
    """How greedy, beam-2 and beam-4 decoding of the article miss the summary (none: learnt)."""
    model.eval()
    failures = []
    for beams in (1, 2, 4):
        got = decode_batch(model, tokenizer, [article], num_beams=beams)[0].strip()
        if got != summary:
            failures.append(f"beam {beams}: {got!r}")
    return failures


def build_planted(target: Path, tokenizer_dir: Path) -> dict[str, Any]:
    """Train a fresh tiny BART, with the summary model's tokenizer, until it reproduces the
    planted summary; save it in ``target`` and return facts for BUILD_INFO."""
    from transformers import AutoTokenizer

    started = time.perf_counter()
    article, summary = load_planted()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    model = build_bart_model(tokenizer)
    model.generation_config.max_length = PLANTED_MAX_LENGTH
    model.generation_config.no_repeat_ngram_size = 0
    batch = tokenizer([article], text_target=[summary], return_tensors="pt")
    labels = masked_labels(batch["labels"], tokenizer.pad_token_id)
    step = train_until(
        model,
        batch,
        labels,
        PLANTED_LR,
        PLANTED_CHECK_EVERY,
        PLANTED_MAX_STEPS,
        lambda _: not planted_failures(model, tokenizer, article, summary),
    )
    if step is None:
        failures = planted_failures(model, tokenizer, article, summary)
        raise RuntimeError(f"planted summarizer did not learn its summary: {failures}")
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    log(f"summary-planted: learnt in {step} steps, saved in {time.perf_counter() - started:.1f} s")
    return {"class": type(model).__name__, "parameters": count_parameters(model), "steps": step}


# --------------------------------------------------------------------------------------------
# Verification of the saved checkpoints, as a consumer loads them
# --------------------------------------------------------------------------------------------


def verify_saved(
    out: Path, pairs: Sequence[tuple[str, str]], fr: Sequence[str], en: Sequence[str]
) -> list[str]:
    """Reload both checkpoints through the Auto classes and check them; return failures."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    failures: list[str] = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")
        tokenizer = AutoTokenizer.from_pretrained(out / TRANSLATION_DIR)
    model = AutoModelForSeq2SeqLM.from_pretrained(out / TRANSLATION_DIR)
    failures.extend(marian_failures(model, tokenizer, pairs))
    if not failures:
        log(f"verify: {len(pairs)} memorized pairs reproduced (greedy, beam-4, single, batch)")
    unk = tokenizer.unk_token_id
    source_ids = tokenizer(list(fr), verbose=False)["input_ids"]
    target_ids = tokenizer(text_target=list(en), verbose=False)["input_ids"]
    for side, lines, ids in (("source", fr, source_ids), ("target", en, target_ids)):
        failures.extend(
            f"<unk> in {side} tokenization of {line!r}"
            for line, line_ids in zip(lines, ids, strict=True)
            if unk in line_ids
        )

    tokenizer = AutoTokenizer.from_pretrained(out / SUMMARY_DIR)
    model = AutoModelForSeq2SeqLM.from_pretrained(out / SUMMARY_DIR)
    model.eval()
    passage = " ".join(en[-5:])
    summary = decode_batch(model, tokenizer, [passage])[0]
    if not summary.strip():
        failures.append("summary model produced an empty summary")
    log(f"verify: sample summary: {summary!r}")
    if not summary.rstrip().endswith((".", '"', ")")):
        log("verify: note: the sample summary does not end like a sentence")
    return failures


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """Serialise concurrent builds into the same directory (e.g. parallel pytest workers)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield
        return
    with open(out / ".build.lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_test_models(out: Path, seed: int = 0, force: bool = False) -> Path:
    """Build (or reuse) the test checkpoints in ``out`` and return ``out``.

    ``out / "translation"`` and ``out / "summary"`` are the checkpoint directories. A build
    with the same seed, recipe and library versions is reused unless ``force`` is true. Raises
    ``RuntimeError`` if the translation model does not reproduce the memorized pairs.
    """
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with build_lock(out):
        if not force and cached_build_is_valid(out, seed):
            log(f"up to date, reusing {out} (use --force to rebuild)")
            return out
        return _build(out, seed)


def _build(out: Path, seed: int) -> Path:
    """Build both checkpoints in a staging folder under ``out``, verify, then move them in."""
    started = time.perf_counter()
    log(f"building test models in {out} (seed {seed})")
    import torch
    from transformers.utils import logging as hf_logging

    # Keep the build's thread and determinism settings from leaking into a calling process.
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_rng = torch.random.get_rng_state()
    previous_progress = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        fr, en = load_corpus()
        pairs = load_memorized_pairs()
        with tempfile.TemporaryDirectory(prefix=".build-", dir=out) as tmp:
            staging = Path(tmp)
            work = staging / "work"
            work.mkdir()
            seed_everything(seed)
            translation = build_translation(staging / TRANSLATION_DIR, work, fr, en, pairs)
            seed_everything(seed)
            summary = build_summary(staging / SUMMARY_DIR, work, en, seed)
            failures = verify_saved(staging, pairs, fr, en)
            if failures:
                raise RuntimeError("test model verification failed:\n  " + "\n  ".join(failures))
            # Last, from its own seed: the two models above stay what they were without it.
            seed_everything(seed)
            planted = build_planted(staging / PLANTED_DIR, staging / SUMMARY_DIR)
            info = {
                **expected_build_key(seed),
                "torch_num_threads": NUM_THREADS,
                "translation": translation,
                "summary": summary,
                "summary_planted": planted,
            }
            (out / BUILD_INFO_NAME).unlink(missing_ok=True)
            for name in (TRANSLATION_DIR, SUMMARY_DIR, PLANTED_DIR):
                shutil.rmtree(out / name, ignore_errors=True)
                os.replace(staging / name, out / name)
            text = json.dumps(info, indent=2, sort_keys=True) + "\n"
            (out / BUILD_INFO_NAME).write_text(text, encoding="utf-8")
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_deterministic)
        torch.random.set_rng_state(previous_rng)
        if previous_progress:
            hf_logging.enable_progress_bar()
    log(f"done in {time.perf_counter() - started:.1f} s")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    # OpenMP threads that spin while waiting make 2-thread torch crawl when another process
    # holds a core (measured: 28 s -> 70 s with one busy process, far worse under heavier
    # load). Passive waiting changes no result. It only takes effect before torch is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        build_test_models(args.out, seed=args.seed, force=args.force)
    except (RuntimeError, OSError, ValueError) as error:
        print(f"make_test_models: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
