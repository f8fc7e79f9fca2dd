"""py3langid's classifier over a sparse automaton and feature table: the same scores, in a
fifth of the memory.

py3langid walks the bytes of a text through a dense automaton (every state, every byte:
38,346 distinct rows of 256 four-byte entries, 39 MB, plus two per-state lists of Python ints)
and scores the byte n-grams it meets. That automaton is an Aho-Corasick one: each transition
either follows an edge of the n-gram trie or falls back along the failure links. So it is
rebuilt here as the trie's edges (one per state) and one failure link per state, about 1.5 MB,
and walked the classic way; the states visited, hence the features counted and the scores,
are py3langid's own (`tests/text/test_langid_compact.py` checks every transition and the
scores on real French and English text).

The feature table (100,053 byte n-grams x 142 languages of float16 log-probabilities, 27 MB
dense) is mostly each language's one value for an n-gram it never saw: `FeatureTable` keeps
that value once per language, a bitmask of the other entries and their values (about 10 MB),
and gives back the very rows py3langid would take. The scoring (`_sparse_score`,
normalization, label aliases) is py3langid's, inherited.
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Any

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
from py3langid.modelio import load_model

ROOT = 0
CHUNK = 4096  # states whose 256 transitions are looked at together while rebuilding


class Automaton:
    """The n-gram trie's edges, sorted by state then byte, with the failure links."""

    def __init__(self, nextmove: Any, row_of_state: Any, output: Any) -> None:
        rows = _dense(nextmove, row_of_state)
        states = len(rows.row_of)
        depth = np.full(states, -1, dtype=np.int32)
        depth[ROOT] = 0
        frontier = np.array([ROOT], dtype=np.intp)
        parents, labels, children = [], [], []
        while len(frontier):
            level_parents, level_labels, level_children = [], [], []
            for chunk in np.array_split(frontier, -(-len(frontier) // CHUNK)):
                targets = rows.of(chunk)  # (states, 256), a chunk at a time: 4 MB at most
                # A transition to a state not yet reached is a trie edge: breadth first, a
                # state is first reached along its own path, from its one parent (`verify`
                # proves the rebuilt walk exact).
                source, byte = np.nonzero(depth[targets] == -1)
                target, first = np.unique(targets[source, byte], return_index=True)
                depth[target] = depth[chunk[0]] + 1
                level_parents.append(chunk[source[first]])
                level_labels.append(byte[first])
                level_children.append(target)
            parents.append(np.concatenate(level_parents))
            labels.append(np.concatenate(level_labels))
            children.append(np.concatenate(level_children))
            frontier = children[-1]
        if (depth < 0).any():
            raise ValueError("py3langid's automaton has states no text reaches")
        parent, label, child = (np.concatenate(a) for a in (parents, labels, children))
        # Failure link of a child: where the dense automaton goes from its parent's failure
        # link on the child's byte; the root's children fall back to the root. Level by level,
        # so that every parent's link is known first (the edges are in breadth-first order).
        fail = np.zeros(states, dtype=np.intp)
        at = 0
        for level in children:
            span = slice(at, at + len(level))
            p, b = parent[span], label[span]
            deeper = p != ROOT
            fail[level[deeper]] = rows.at(fail[p[deeper]], b[deeper])
            at += len(level)
        order = np.lexsort((label, parent))
        parent, label, child = parent[order], label[order], child[order]
        self.depth = depth
        first_edge = np.searchsorted(parent, np.arange(states + 1)).astype(np.uint32)
        self.start = array("I", first_edge.tobytes())
        self.labels = label.astype(np.uint8).tobytes()
        self.child = array("I", child.astype(np.uint32).tobytes())
        self.fail = array("I", fail.astype(np.uint32).tobytes())
        self.output = array("i", np.asarray(output, dtype=np.int32).tobytes())

    def step(self, state: int, byte: int) -> int:
        """The state after `byte`: the trie's edge, else the failure link's, down to the root."""
        labels, start, child, fail = self.labels, self.start, self.child, self.fail
        while True:
            at = labels.find(byte, start[state], start[state + 1])
            if at >= 0:
                return child[at]
            if state == ROOT:
                return ROOT
            state = fail[state]

    def counts(self, text: bytes) -> Counter[int] | None:
        """Features met walking `text` (py3langid's `visit_counts`), None when there are none."""
        step, output = self.step, self.output
        state, found = ROOT, list[int]()
        for byte in text:
            state = step(state, byte)
            if (feature := output[state]) >= 0:
                found.append(feature)
        return Counter(found) if found else None

    def verify(self, nextmove: Any, row_of_state: Any) -> None:
        """Recompute every transition of the dense automaton from the edges and failure links
        (a byte at a time over all states, shallow states first); raises if one differs."""
        rows = _dense(nextmove, row_of_state)
        states = len(rows.row_of)
        start = np.frombuffer(self.start, dtype=np.uint32).astype(np.intp)
        labels = np.frombuffer(self.labels, dtype=np.uint8)
        child = np.frombuffer(self.child, dtype=np.uint32).astype(np.intp)
        fail = np.frombuffer(self.fail, dtype=np.uint32).astype(np.intp)
        parent = np.repeat(np.arange(states), np.diff(start))
        levels = [np.flatnonzero(self.depth == d) for d in range(int(self.depth.max()) + 1)]
        for byte in range(256):
            goto = np.full(states, -1, dtype=np.intp)
            edges = labels == byte
            goto[parent[edges]] = child[edges]
            delta = np.where(goto >= 0, goto, ROOT)
            for level in levels[1:]:  # delta(s) = goto(s), else delta(fail(s))
                missing = level[goto[level] < 0]
                delta[missing] = delta[fail[missing]]
            if not np.array_equal(delta, rows.at(np.arange(states), np.full(states, byte))):
                raise ValueError(f"the rebuilt automaton differs from py3langid's on byte {byte}")


class _Dense:
    """py3langid's dense automaton as stored: distinct rows, and each state's row."""

    def __init__(self, rows: np.ndarray, row_of: np.ndarray) -> None:
        self.rows, self.row_of = rows, row_of

    def of(self, states: np.ndarray) -> np.ndarray:
        """Each state's 256 transitions."""
        found: np.ndarray = self.rows[self.row_of[states]].astype(np.int32)
        return found

    def at(self, states: np.ndarray, byte: np.ndarray) -> np.ndarray:
        """The transition of each state on its byte."""
        found: np.ndarray = self.rows[self.row_of[states], byte].astype(np.intp)
        return found


def _dense(nextmove: Any, row_of_state: Any) -> _Dense:
    rows = np.frombuffer(nextmove, dtype=_dtype(nextmove)).reshape(-1, 256)
    return _Dense(rows, np.frombuffer(row_of_state, dtype=_dtype(row_of_state)).astype(np.intp))


def _dtype(values: Any) -> np.dtype[Any]:
    """The numpy type of a stdlib array's items."""
    return np.dtype({2: np.uint16, 4: np.uint32, 8: np.uint64}[values.itemsize])


class FeatureTable:
    """A (features x languages) table held as each language's most common value, a bitmask of
    the entries that differ from it, and those entries' values in row order; indexed by an
    array of features (`table[features]`, as py3langid's scoring does) it gives the same dense
    float16 rows, bit for bit."""

    def __init__(self, dense: np.ndarray) -> None:
        self.shape: tuple[int, int] = (int(dense.shape[0]), int(dense.shape[1]))
        # Entries compared as bit patterns, so that equal means the same float16, bit for bit.
        bits = dense.view(np.dtype(f"u{dense.dtype.itemsize}"))
        common = np.empty(self.shape[1], dtype=bits.dtype)
        for column in range(self.shape[1]):
            patterns, counts = np.unique(bits[:, column], return_counts=True)
            common[column] = patterns[counts.argmax()]
        other = bits != common
        self.common = common.view(dense.dtype)
        self.mask = np.packbits(other, axis=1)
        self.values = np.ascontiguousarray(dense[other])
        self.offset = np.concatenate(([0], np.cumsum(other.sum(axis=1, dtype=np.int64))))

    def __getitem__(self, features: np.ndarray) -> np.ndarray:
        """The dense rows of `features`, in their order."""
        features = np.asarray(features, dtype=np.intp)
        rows = np.tile(self.common, (len(features), 1))
        other = np.unpackbits(self.mask[features], axis=1, count=self.shape[1]).view(bool)
        start = self.offset[features]
        length = self.offset[features + 1] - start
        before = np.cumsum(length) - length  # where each row's values start in the gather
        rows[other] = self.values[np.repeat(start - before, length) + np.arange(length.sum())]
        return rows

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return int(self.common.nbytes + self.mask.nbytes + self.values.nbytes + self.offset.nbytes)


class CompactIdentifier(LanguageIdentifier):  # type: ignore[misc]  # py3langid has no types
    """py3langid's LanguageIdentifier with the dense automaton replaced by `Automaton` and the
    feature table by `FeatureTable` (so `set_languages`, which slices the table, is refused)."""

    def __init__(self, automaton: Automaton, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.automaton = automaton

    def _raw_score(self, text: bytes) -> Any:
        visits = self.automaton.counts(text)
        if visits:
            return self._sparse_score(visits, self.nb_ptc)
        fill = 0.0 if self._norm_probs else float(np.finfo(np.float32).min)
        return np.full(len(self.nb_classes), fill, dtype=np.float32)

    def set_languages(self, langs: Any = None) -> None:
        """Not offered: the service classifies over every language of the model."""
        if langs is not None:
            raise NotImplementedError("the compact identifier keeps every language")


def load_compact(norm_probs: bool = True) -> CompactIdentifier:
    """py3langid's bundled model, with its automaton and feature table held sparse (about 1 s)."""
    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    automaton = Automaton(nextmove, row, output)
    table = FeatureTable(np.asarray(ptc))
    del nextmove, row, output, ptc
    # py3langid's own constructor, given empty automaton tables: its walk is never used.
    return CompactIdentifier(
        automaton,
        table,
        np.asarray(pc),
        classes,
        array("I"),
        [],
        norm_probs=norm_probs,
        tk_row=array("I"),
    )
