"""Vocabulary map for CTranslate2's `use_vmap`: the target tokens a batch of sources may need,
so that the translation model's output layer scores a few thousand tokens, not all of them.

Served where `DEPECHE_TRANSLATION_VMAP=true` and the converted translation folder holds a
map (off by default: a map is built from a model's own translations, and one built for the
real opus-mt has not been checked here, where no hub is reachable).

ctranslate2 4.8.5 keeps, from one mapped call to the next on a replica, where each id it
looked up sat in the first call's restricted output layer (`Decoder::update_output_layer`
adds to its id map without clearing it): the decoder start token, the end and unknown
tokens and the suppressed ones. Marian starts from `<pad>`, the last id, whose place changes
with every call's candidates, so later calls raised or decoded from another token
(docs/benchmarks/cpu-2026-12-02-memory.md). An id keeps its place when every id below it is
a candidate of every call. So the converter puts Marian's special tokens first
(`service.engines.convert`), the map holds every id up to the last one looked up in its
always set (`looked_up`, `check_vmap`), and the engine refuses a map or a conversion that
breaks the rule.

The file is `vmap.txt` beside `model.bin` (CTranslate2 reads it from the model folder, as its
converter's `--vocab_mapping` would have put it there), one rule a line::

    <source token>\t<target token> <target token> ...

The rule of the empty source holds the tokens that are candidates for every batch; CTranslate2
adds `<unk>`, `<s>` and `</s>`, and scores, per batch, the union of the candidates of every
source token in it (and of the target prefix). The map is built from the model's own
vocabulary and its own translations of a French sample corpus (`build_vmap`):

- the tokens the decoder looks up (`looked_up`), always;
- identity: a source token that is also a target token maps to itself (names, numbers and
  punctuation are copied through);
- always: the most frequent target tokens of the model's translations, up to `coverage` of
  all the tokens it wrote;
- per source token: the `per_token` target tokens most associated with it (Dice coefficient
  over the sentences of the corpus: a target that comes with this source token and rarely
  without it first), beyond the always set.

A token outside a batch's candidates can never be chosen, so the map can change a translation;
`python -m service.engines.vmap` builds one and reports how many translations of a held-out
corpus it changes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VMAP_FILE = "vmap.txt"
"""The file CTranslate2 reads with `use_vmap=True`."""


def _usable(token: str) -> bool:
    # Rules are split on tabs and spaces; a token holding either cannot be written.
    return bool(token) and not any(c.isspace() for c in token)


@dataclass
class VocabularyMap:
    """`always`: candidates of every batch; `rules`: source token -> its candidates."""

    always: list[str] = field(default_factory=list)
    rules: dict[str, list[str]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = ["\t" + " ".join(self.always)] if self.always else []
        out += [f"{source}\t{' '.join(targets)}" for source, targets in self.rules.items()]
        return out

    def write(self, folder: Path) -> Path:
        path = folder / VMAP_FILE
        path.write_text("\n".join(self.lines()) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, folder: Path) -> VocabularyMap:
        vmap = cls()
        for line in (folder / VMAP_FILE).read_text(encoding="utf-8").splitlines():
            source, _, targets = line.partition("\t")
            if source:
                vmap.rules[source] = targets.split()
            else:
                vmap.always = targets.split()
        return vmap

    def candidates(self, sources: Iterable[Sequence[str]]) -> set[str]:
        """The target tokens CTranslate2 scores for a batch of these sources (specials aside)."""
        found = set(self.always)
        for tokens in sources:
            for token in tokens:
                found.update(self.rules.get(token, ()))
        return found


def build_vmap(
    pairs: Iterable[tuple[Sequence[str], Sequence[str]]],
    source_vocabulary: Collection[str],
    target_vocabulary: Collection[str],
    *,
    coverage: float = 0.99,
    per_token: int = 16,
    required: Sequence[str] = (),
) -> VocabularyMap:
    """A map from (source tokens, the model's translation tokens) pairs; see the module doc.
    `required` tokens are candidates of every batch whatever the corpus (`looked_up`)."""
    targets = set(target_vocabulary)
    frequency: Counter[str] = Counter()  # output tokens, every occurrence
    in_sources: Counter[str] = Counter()  # sentences whose source holds the token
    in_outputs: Counter[str] = Counter()  # sentences whose translation holds the token
    together: dict[str, Counter[str]] = {}
    for source, translation in pairs:
        frequency.update(translation)
        words = set(translation)
        in_outputs.update(words)
        for token in set(source):
            in_sources[token] += 1
            together.setdefault(token, Counter()).update(words)
    always: list[str] = [token for token in dict.fromkeys(required) if token in targets]
    total = sum(frequency.values())
    written = 0
    for token, count in frequency.most_common():
        if total and written / total >= coverage:
            break
        if _usable(token) and token in targets and token not in always:
            always.append(token)
        written += count
    always_set = set(always)
    rules: dict[str, list[str]] = {}
    for token in sorted(t for t in source_vocabulary if _usable(t)):
        chosen: list[str] = []
        if token in targets and token not in always_set:
            chosen.append(token)  # identity
        seen = together.get(token) or Counter()

        # Dice: a target that comes with this source token, and rarely without it, first.
        def dice(target: str, token: str = token, seen: Counter[str] = seen) -> float:
            return 2 * seen[target] / (in_sources[token] + in_outputs[target])

        ranked = sorted(
            (t for t in seen if t not in always_set and t not in chosen and _usable(t)),
            key=lambda t: (-dice(t), t),
        )
        chosen += ranked[:per_token]
        if chosen:
            rules[token] = chosen
    return VocabularyMap(always, rules)


def looked_up(folder: Path, target_vocabulary: Sequence[str]) -> list[str]:
    """The target tokens the decoder looks up by id in a mapped call (start, end, unknown,
    prefix and suppressed tokens), and every token with a smaller id: the candidates every
    call must have for those ids to keep their place (see the module doc)."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    tokens = {config.get(key) for key in ("decoder_start_token", "eos_token", "unk_token")}
    generation = folder / "generation_config.json"
    if generation.is_file():
        decoding = json.loads(generation.read_text(encoding="utf-8"))
        ids = [i for seq in decoding.get("bad_words_ids") or [] for i in seq]
        forced = decoding.get("forced_bos_token_id")
        ids += [forced] if forced is not None else []
        tokens |= {_hf_token(folder, int(i)) for i in ids}
    index = {token: i for i, token in enumerate(target_vocabulary)}
    last = max((index[t] for t in tokens if t in index), default=-1)
    return list(target_vocabulary[: last + 1])


def _hf_token(folder: Path, token_id: int) -> str | None:
    """The token of a transformers id, from the folder's `vocab.json` (what the generation
    config's ids refer to; the converted vocabulary may order them otherwise)."""
    path = folder / "vocab.json"
    if not path.is_file():
        return None
    for token, i in json.loads(path.read_text(encoding="utf-8")).items():
        if i == token_id:
            return str(token)
    return None


MAX_LOOKED_UP = 16
"""More ids than this below the last one looked up: the specials are not first (an older
conversion), not a map to rebuild."""


class VocabularyMapError(ValueError):
    """A map, or a conversion, that `use_vmap` would decode wrongly with."""


def check_vmap(folder: Path) -> VocabularyMap:
    """The folder's map, checked: it exists, and every id up to the last one the decoder looks
    up is in its always set (with CTranslate2's own `<unk>`, `<s>`, `</s>`)."""
    if not (folder / VMAP_FILE).is_file():
        raise VocabularyMapError(
            f"{folder} has no {VMAP_FILE}: build one with `python -m service.engines.vmap "
            f"{folder} CORPUS`"
        )
    vmap = VocabularyMap.read(folder)
    _, target = model_vocabularies(folder)
    needed = looked_up(folder, target)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    given = set(vmap.always) | {config.get(k) for k in ("unk_token", "bos_token", "eos_token")}
    missing = [token for token in needed if token not in given]
    if missing and len(needed) > MAX_LOOKED_UP:
        raise VocabularyMapError(
            f"{folder} was converted before the special tokens came first ({needed[-1]} is id "
            f"{len(needed) - 1}): convert it again (scripts/convert_models.py --force), then "
            "rebuild its map"
        )
    if missing:
        raise VocabularyMapError(
            f"{folder}/{VMAP_FILE} leaves out {', '.join(missing)}, which every call needs: "
            f"rebuild it with `python -m service.engines.vmap {folder} CORPUS`"
        )
    return vmap


def _vocabulary(folder: Path, name: str) -> list[str] | None:
    path = folder / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def model_vocabularies(folder: Path) -> tuple[list[str], list[str]]:
    """(source, target) vocabularies of a converted CTranslate2 model."""
    shared = _vocabulary(folder, "shared_vocabulary.json")
    if shared is not None:
        return shared, shared
    source = _vocabulary(folder, "source_vocabulary.json")
    target = _vocabulary(folder, "target_vocabulary.json")
    if source is None or target is None:
        raise FileNotFoundError(f"{folder} holds no CTranslate2 vocabulary files")
    return source, target


def model_translations(
    folder: Path,
    sentences: Sequence[str],
    *,
    beam_size: int = 4,
    batch_size: int = 32,
    use_vmap: bool = False,
    translator: Any = None,
) -> list[tuple[list[str], list[str]]]:
    """The model's own (source tokens, translation tokens) for each sentence, decoded the way
    the service decodes (its generation config's prefix and suppressed tokens)."""
    import ctranslate2  # type: ignore[import-untyped]

    from service.engines.codec import TransformersCodec
    from service.engines.ct2 import load_tokenizer, read_decoding_defaults

    tokenizer = load_tokenizer(folder)  # a build tool: transformers' truncation, as before
    defaults = read_decoding_defaults(folder, TransformersCodec(tokenizer))
    if translator is None:
        translator = ctranslate2.Translator(str(folder), device="cpu", compute_type="auto")
    out: list[tuple[list[str], list[str]]] = []
    for start in range(0, len(sentences), batch_size):
        batch = list(sentences[start : start + batch_size])
        ids = tokenizer(batch, truncation=True)["input_ids"]
        sources = [tokenizer.convert_ids_to_tokens(x) for x in ids]
        options: dict[str, Any] = {"beam_size": beam_size, "max_decoding_length": 256}
        if defaults.suppress:
            options["suppress_sequences"] = [list(t) for t in defaults.suppress]
        if defaults.prefix:
            options["target_prefix"] = [list(defaults.prefix) for _ in sources]
        results = translator.translate_batch(sources, use_vmap=use_vmap, **options)
        out.extend((s, r.hypotheses[0]) for s, r in zip(sources, results, strict=True))
    return out


def _lines(path: Path) -> list[str]:
    return [x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.engines.vmap",
        description="Build vmap.txt for a CTranslate2 translation model from its own "
        "translations of a French corpus (one sentence a line), and report how many "
        "translations of a held-out corpus it changes.",
    )
    parser.add_argument("model", type=Path, help="converted CTranslate2 model folder")
    parser.add_argument("corpus", type=Path, help="French sentences, one a line")
    parser.add_argument("--held-out", type=Path, help="French sentences to check the map on")
    parser.add_argument("--coverage", type=float, default=0.99)
    parser.add_argument("--per-token", type=int, default=16)
    parser.add_argument("--beam-size", type=int, default=4)
    args = parser.parse_args(argv)
    source_vocabulary, target_vocabulary = model_vocabularies(args.model)
    pairs = model_translations(args.model, _lines(args.corpus), beam_size=args.beam_size)
    vmap = build_vmap(
        pairs,
        source_vocabulary,
        target_vocabulary,
        coverage=args.coverage,
        per_token=args.per_token,
        required=looked_up(args.model, target_vocabulary),
    )
    path = vmap.write(args.model)
    check_vmap(args.model)
    print(f"{path}: {len(vmap.always)} tokens always, {len(vmap.rules)} source rules")
    if args.held_out:
        import ctranslate2

        held = _lines(args.held_out)
        translator = ctranslate2.Translator(str(args.model), device="cpu")
        plain = model_translations(
            args.model, held, beam_size=args.beam_size, translator=translator
        )
        mapped = model_translations(
            args.model, held, beam_size=args.beam_size, use_vmap=True, translator=translator
        )
        changed = sum(a[1] != b[1] for a, b in zip(plain, mapped, strict=True))
        sizes = [len(vmap.candidates([s])) for s, _ in plain]
        print(
            f"held out: {changed} of {len(held)} translations changed; "
            f"candidates per sentence: median {sorted(sizes)[len(sizes) // 2]}, "
            f"vocabulary {len(target_vocabulary)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
