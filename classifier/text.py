"""Text normalisation and the domain-aware jieba tokenizer."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jieba

# Frequency given to domain words and directory names. High enough that jieba keeps them
# whole, low enough that they do not swallow ordinary words around them.
DOMAIN_WORD_FREQ = 50_000

# Full-width ASCII (U+FF01..U+FF5E) maps onto ASCII by a fixed offset; U+3000 is the
# ideographic space. Done by a table, not NFKC, so nothing else in the text changes.
_FULL_TO_HALF = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULL_TO_HALF[0x3000] = 0x20
_WHITESPACE = re.compile(r"\s+")
# Tokens made only of punctuation, symbols or spaces carry nothing for the word features.
_NOISE_TOKEN = re.compile(r"^[\W_]+$")

_converter_lock = threading.Lock()
_converter: Any = None


def _t2s() -> Any:
    """Return the shared OpenCC traditional → simplified converter, creating it once."""
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    return _converter


def _fold(text: str) -> str:
    """Fold width, case and whitespace (everything but the script conversion)."""
    return _WHITESPACE.sub(" ", text.translate(_FULL_TO_HALF)).strip().lower()


def normalise(text: str) -> str:
    """Return `text` in simplified script, half-width, lower case, with single spaces."""
    return _t2s().convert(_fold(text))


def normalise_many(texts: Sequence[str]) -> list[str]:
    """Normalise many texts with one OpenCC call (folding removes newlines, so joining is safe)."""
    if not texts:
        return []
    folded = [_fold(text) for text in texts]
    converted = _t2s().convert("\n".join(folded)).split("\n")
    if len(converted) != len(folded):  # defensive: never misalign texts and results
        return [_t2s().convert(text) for text in folded]
    return converted


def _read_resource_lines(name: str) -> list[str]:
    """Read a resource file of this package, skipping blank lines and # comments."""
    content = resources.files("classifier.resources").joinpath(name).read_text("utf-8")
    return [line.strip() for line in content.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def domain_words() -> list[str]:
    """Return the shipped domain dictionary's words."""
    return [line.split()[0] for line in _read_resource_lines("domain_dict.txt")]


def stop_words() -> frozenset[str]:
    """Return the shipped stop words."""
    return frozenset(_read_resource_lines("stopwords.txt"))


class Tokenizer:
    """jieba segmentation with its own dictionary instance, domain words and stop words."""

    def __init__(self, user_words: Iterable[str] = (), stopwords: Iterable[str] | None = None,
                 hmm: bool = True) -> None:
        self._user_words: dict[str, None] = dict.fromkeys(
            w for w in (normalise(word) for word in user_words) if w)
        self._stopwords = frozenset(stop_words() if stopwords is None else stopwords)
        self._hmm = hmm
        self._jieba: jieba.Tokenizer | None = None
        self._lock = threading.Lock()

    @classmethod
    def with_domain_dictionary(cls, extra_words: Iterable[str] = (), hmm: bool = True) -> Tokenizer:
        """Build a tokenizer from the shipped domain dictionary plus `extra_words`."""
        return cls([*domain_words(), *extra_words], hmm=hmm)

    @classmethod
    def from_user_dict(cls, path: Path, hmm: bool = True) -> Tokenizer:
        """Build a tokenizer from a user dictionary written by `write_user_dict`."""
        words = [line.split(" ")[0] for line in path.read_text("utf-8").splitlines()
                 if line.strip()]
        return cls(words, hmm=hmm)

    @property
    def hmm(self) -> bool:
        """Whether jieba's HMM guesses words missing from the dictionaries."""
        return self._hmm

    @property
    def user_words(self) -> list[str]:
        """Return the words added on top of jieba's main dictionary, in insertion order."""
        return list(self._user_words)

    def _engine(self) -> jieba.Tokenizer:
        """Return the jieba instance, loading dictionaries on first use."""
        engine = self._jieba
        if engine is None:
            with self._lock:
                if self._jieba is None:
                    self._jieba = self._load()
                engine = self._jieba
        return engine

    def _load(self) -> jieba.Tokenizer:
        """Create and initialise a private jieba.Tokenizer with the user words."""
        import jieba

        jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" chatter on stderr
        engine = jieba.Tokenizer()
        engine.initialize()
        for word in self._user_words:
            engine.add_word(word, freq=DOMAIN_WORD_FREQ)
        return engine

    def load(self) -> None:
        """Load the dictionaries now (jieba's first load takes a moment)."""
        self._engine()

    def add_words(self, words: Iterable[str]) -> int:
        """Add words (e.g. school and institution names); return how many were new."""
        fresh = [w for w in dict.fromkeys(normalise(word) for word in words)
                 if w and w not in self._user_words]
        with self._lock:
            for word in fresh:
                self._user_words[word] = None
                if self._jieba is not None:
                    self._jieba.add_word(word, freq=DOMAIN_WORD_FREQ)
        return len(fresh)

    def tokens(self, normalised: str) -> list[str]:
        """Return the content tokens of already normalised text (no stop words, no punctuation)."""
        stop = self._stopwords
        return [tok for tok in self._engine().lcut(normalised, HMM=self._hmm)
                if tok not in stop and not _NOISE_TOKEN.match(tok)]

    def tokenize(self, text: str) -> list[str]:
        """Normalise raw text and return its content tokens."""
        return self.tokens(normalise(text))

    def write_user_dict(self, path: Path) -> None:
        """Write the user words as a jieba user dictionary (word freq per line)."""
        lines = [f"{word} {DOMAIN_WORD_FREQ}" for word in self._user_words if " " not in word]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
