"""Label-preserving text transforms: easy data augmentation (Wei & Zou, EMNLP 2019) and sentence reordering.

Synonyms come from a small list of English word groups shipped with handful (``synonyms.py``): no WordNet data
ships in a package here (nltk and wn download theirs at run time), and nothing is fetched. Words that flip or
carry a sentence's meaning (negations, intensity words such as "very") are never deleted, swapped or replaced.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from handful.augment.synonyms import synonyms_of

Transform = Callable[[str, np.random.Generator, str], str]

# Share of the words an operation touches (EDA's alpha), by strength; at least one word is always touched.
ALPHA = {"light": 0.1, "medium": 0.15, "strong": 0.25}
REORDER_PROBABILITY = {"light": 0.3, "medium": 0.5, "strong": 0.7}

PROTECTED = frozenset({
    "not", "no", "never", "nor", "none", "nothing", "nobody", "neither", "without", "hardly", "barely", "but",
    "n't", "cannot", "can't", "don't", "doesn't", "didn't", "isn't", "wasn't", "aren't", "weren't", "won't",
    "wouldn't", "shouldn't", "couldn't", "haven't", "hasn't", "hadn't", "very", "too", "so", "less", "more", "most",
    "least", "only",
})
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")


def _words(text: str) -> list[str]:
    return text.split()


def _core(word: str) -> tuple[str, str, str]:
    """``word`` split into leading punctuation, the word itself, and trailing punctuation."""
    match = re.match(r"^(\W*)(.*?)(\W*)$", word)
    return (match.group(1), match.group(2), match.group(3)) if match else ("", word, "")


def _count(words: list[str], strength: str) -> int:
    return max(1, int(round(ALPHA[strength] * len(words))))


def _changeable(word: str) -> bool:
    core = _core(word)[1].lower()
    return bool(core) and core not in PROTECTED and "'" not in core


def _match_case(replacement: str, original: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def synonym(text: str, rng: np.random.Generator, strength: str) -> str:
    """Replace a few words that have synonyms in the packaged list by one of them, keeping case and punctuation."""
    words = _words(text)
    candidates = [i for i, w in enumerate(words) if _changeable(w) and synonyms_of(_core(w)[1])]
    for index in rng.permutation(candidates)[: _count(words, strength)]:
        lead, core, trail = _core(words[index])
        options = synonyms_of(core)
        words[index] = lead + _match_case(options[int(rng.integers(len(options)))], core) + trail
    return " ".join(words)


def insert(text: str, rng: np.random.Generator, strength: str) -> str:
    """Insert synonyms of words already in the text at random places."""
    words = _words(text)
    candidates = [_core(w)[1] for w in words if _changeable(w) and synonyms_of(_core(w)[1])]
    if not candidates:
        return text
    for _ in range(_count(words, strength)):
        options = synonyms_of(candidates[int(rng.integers(len(candidates)))])
        words.insert(int(rng.integers(len(words) + 1)), options[int(rng.integers(len(options)))])
    return " ".join(words)


def delete(text: str, rng: np.random.Generator, strength: str) -> str:
    """Drop each word with probability alpha (never a negation or intensity word, never every word)."""
    words = _words(text)
    if len(words) < 2:
        return text
    kept = [w for w in words if not _changeable(w) or rng.random() >= ALPHA[strength]]
    return " ".join(kept) if kept else words[int(rng.integers(len(words)))]


def swap(text: str, rng: np.random.Generator, strength: str) -> str:
    """Swap two words a few times (negations and intensity words stay where they are)."""
    words = _words(text)
    movable = [i for i, w in enumerate(words) if _changeable(w)]
    if len(movable) < 2:
        return text
    for _ in range(_count(words, strength)):
        a, b = rng.choice(movable, size=2, replace=False)
        words[a], words[b] = words[b], words[a]
    return " ".join(words)


def reorder(text: str, rng: np.random.Generator, strength: str) -> str:
    """Shuffle the sentences of a multi-sentence input; a single sentence is returned unchanged."""
    sentences = _SENTENCE.split(text.strip())
    if len(sentences) < 2:
        return text
    return " ".join(sentences[i] for i in rng.permutation(len(sentences)))


TRANSFORMS: dict[str, Transform] = {
    "synonym": synonym, "insert": insert, "delete": delete, "swap": swap, "reorder": reorder,
}
WORD_OPERATIONS = ("synonym", "insert", "delete", "swap")


def augment_text(text: str, rng: np.random.Generator, strength: str, enabled: list[str]) -> str:
    """One augmented view, as EDA makes them: one word operation chosen at random, then maybe a sentence shuffle."""
    operations = [name for name in WORD_OPERATIONS if name in enabled]
    pick = int(rng.integers(len(WORD_OPERATIONS)))
    child = np.random.default_rng(rng.integers(2**63))
    out = text
    if operations:
        out = TRANSFORMS[operations[pick % len(operations)]](out, child, strength)
    shuffle = rng.random() < REORDER_PROBABILITY[strength]
    child = np.random.default_rng(rng.integers(2**63))
    if "reorder" in enabled and shuffle:
        out = reorder(out, child, strength)
    return out if out.strip() else text
