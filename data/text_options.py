"""The text-to-token choices a config names, apart from the TensorFlow code that applies them
(``data.text_vectorizer``), so config classes load without importing TensorFlow."""

from __future__ import annotations

from typing import Literal

Standardize = Literal["split_punctuation", "strip_punctuation"]
Keep = Literal["head", "tail"]
