"""Token ids for a text tower from an export's tokenizer files; no torch here.

The files are Hugging Face `tokenizers` ones (`tokenizer.json`, `tokenizer_config.json`), as
in Immich's layout. Texts are cleaned first the way open_clip cleans them (`lower`,
`whitespace` or `canonicalize`: ftfy's fixes, HTML entities undone, whitespace runs joined;
`none` for a Hugging Face model's tokenizer, whose normaliser is in tokenizer.json),
then encoded with the start and end tokens, truncated to the context length (the end token
kept last) and padded with the pad token.
"""

from __future__ import annotations

import html
import json
import string
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ftfy
import numpy as np
from tokenizers import Tokenizer

CLEAN_MODES = ("lower", "whitespace", "canonicalize", "none")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def basic_clean(text: str) -> str:
    text = ftfy.fix_text(text)
    return html.unescape(html.unescape(text)).strip()


def whitespace_clean(text: str) -> str:
    return " ".join(text.split()).strip()


def _canonicalize(text: str) -> str:
    text = basic_clean(text).replace("_", " ").translate(_PUNCTUATION).lower()
    return " ".join(text.split()).strip()


_CLEANERS: dict[str, Callable[[str], str]] = {
    "lower": lambda text: whitespace_clean(basic_clean(text)).lower(),
    "whitespace": lambda text: whitespace_clean(basic_clean(text)),
    "canonicalize": _canonicalize,
    "none": lambda text: text,  # the tokenizer's own normaliser does it all (Hugging Face's)
}


class TextTokenizer:
    """Texts → (n, context_length) token ids, padded; `strip_sep`: the separator token
    becomes the pad id 0 (open_clip's `strip_sep_token`)."""

    def __init__(
        self, folder: Path, context_length: int, clean: str = "lower", strip_sep: bool = False
    ) -> None:
        if clean not in _CLEANERS:
            raise ValueError(f"unknown text cleaning {clean!r}; known: {', '.join(CLEAN_MODES)}")
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=context_length)
        self._clean = _CLEANERS[clean]
        self.context_length = context_length
        config = _read_json(folder / "tokenizer_config.json")
        self.pad_id = self._token_id(config.get("pad_token")) or 0
        self._sep_id = self._token_id(config.get("sep_token")) if strip_sep else None

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch([self._clean(text) for text in texts])
        ids = np.full((len(texts), self.context_length), self.pad_id, dtype=np.int64)
        for row, encoding in enumerate(encoded):
            tokens = encoding.ids[: self.context_length]
            ids[row, : len(tokens)] = tokens
        if self._sep_id is not None:
            ids[ids == self._sep_id] = 0
        return ids

    def _token_id(self, token: Any) -> int | None:
        if isinstance(token, dict):  # an AddedToken written out in full
            token = token.get("content")
        return self._tokenizer.token_to_id(token) if isinstance(token, str) else None


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    value = json.loads(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else {}
