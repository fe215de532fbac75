"""``val_bleu``: greedy corpus BLEU on validation pairs, every epoch."""

from __future__ import annotations

from collections.abc import Callable

import keras

from data.translation_pairs import SentencePairs
from pipelines.translation.config import TranslationConfig, TranslationInfo
from pipelines.translation.decoding import decode_all
from pipelines.translation.metrics import corpus_scores
from pipelines.translation.serving import Translate, make_translate_function


class ValidationBLEU(keras.callbacks.Callback):
    """Greedy corpus BLEU on the first validation pairs as ``val_bleu`` each epoch.

    It is computed when validation ends, so with ``train.ema_momentum`` it scores the
    averaged weights like ``val_loss`` does, and written into the epoch logs before the
    checkpoint callback reads them (``train.monitor: val_bleu`` works).
    """

    def __init__(
        self,
        make_translate: Callable[[keras.Model], Translate],
        sources: list[str],
        references: list[str],
        batch_size: int,
    ):
        super().__init__()
        self._make_translate = make_translate
        self._sources = sources
        self._references = references
        self._batch_size = batch_size
        self._translate: Translate | None = None
        self._bleu: float | None = None

    def on_test_end(self, logs=None):
        if self._translate is None:  # traced once, on the model being trained
            self._translate = self._make_translate(self.model)
        decoded = decode_all(self._translate, self._sources, self._batch_size)
        self._bleu = corpus_scores(decoded.translations, self._references)["bleu"]

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._bleu is not None:
            logs["val_bleu"] = self._bleu


def validation_bleu(
    cfg: TranslationConfig, info: TranslationInfo, validation: SentencePairs
) -> list[keras.callbacks.Callback]:
    """The ``val_bleu`` callback on ``decoding.validation_bleu_examples`` of ``validation``
    (none when that is 0)."""
    count = cfg.decoding.validation_bleu_examples
    if not count:
        return []
    return [
        ValidationBLEU(
            lambda model: make_translate_function(model, cfg, info, None)[0],
            validation.sources[:count],
            validation.references[:count],
            cfg.decoding.batch_size,
        )
    ]
