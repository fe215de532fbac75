"""Char-LM callbacks: truncated-BPTT state bookkeeping and the sample printed while training."""

from __future__ import annotations

import sys

import keras

from data.char_text import CharVocabulary
from pipelines.charlm.serving import sampler


class LaneStateKeeper(keras.callbacks.Callback):
    """Truncated-BPTT bookkeeping for a stateful model in ``fit``.

    The carried state is zeroed when an epoch begins, when a pass over the lanes starts again
    (``train.steps_per_epoch`` can cut passes), and before validation (the validation lanes
    start from zero; the epoch's training state is not needed after it). Nothing else runs
    the model between training steps (gradient norms come from the step itself), so the state
    is otherwise left alone. The step count continues over a resumed run
    (``state_attributes``, saved by ``RunCheckpoint``).
    """

    state_attributes = ("_steps",)

    def __init__(self, batches_per_pass: int):
        super().__init__()
        self.batches_per_pass = batches_per_pass
        self.resets = 0
        self._steps = 0

    def _reset(self) -> None:
        # On JAX, fit keeps the variables' values in its own state during an epoch; reading
        # ``self.model`` writes that state back first (Keras' Callback.model does), and fit
        # then reads the variables again, so the zeros below reach the next step
        # (tests/test_charlm_pipeline.py checks it on JAX).
        self.model.reset_states()
        self.resets += 1

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()

    def on_train_batch_begin(self, batch, logs=None):
        if self._steps and self._steps % self.batches_per_pass == 0:
            self._reset()

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_test_begin(self, logs=None):
        self._reset()


class PrintSample(keras.callbacks.Callback):
    """Prints a short generated sample after every ``every`` epochs (fixed seed, so samples
    of different epochs differ only by what the model learned)."""

    def __init__(
        self,
        vocabulary: CharVocabulary,
        prime: str,
        length: int,
        temperature: float,
        top_k: int,
        seed: int,
        every: int = 1,
    ):
        super().__init__()
        self.vocabulary = vocabulary
        self.prime = prime
        self.args = (prime, length, temperature, top_k, seed)
        self.every = every
        self.samples: list[str] = []

    def on_train_begin(self, logs=None):
        self._sample = sampler(self.model, self.vocabulary)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        text = self.prime + self._sample(*self.args)
        self.samples.append(text)
        print(f"[charlm] sample after epoch {epoch + 1}:\n{text}\n", file=sys.stderr, flush=True)
