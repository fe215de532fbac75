"""The char-LM's portable core: one step of the network with explicit states; the
generation loop (reading the prime, sampling, feeding back) is the caller's."""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from models.char_lm import CharLanguageModel
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.portable_part import PortablePart

EXAMPLE_ROWS = 3


def portable_step(model: CharLanguageModel, vocabulary: list[str]) -> PortableModel:
    """``step``: ``char_ids`` [batch] int32 and ``states`` [batch, width] float32 (every
    layer's states side by side) → ``logits`` [batch, vocabulary] and ``next_states`` (an
    ONNX graph cannot name an output like an input)."""
    sizes = [[int(state.shape[-1]) for state in layer] for layer in model.initial_states(1)]
    width = sum(sum(layer) for layer in sizes)

    def step(char_ids, states):
        parts = iter(tf.split(states, [n for layer in sizes for n in layer], axis=-1))
        per_layer = [[next(parts) for _ in layer] for layer in sizes]
        logits, new_states = model.step(char_ids, per_layer)
        packed = tf.concat([tf.cast(s, tf.float32) for layer in new_states for s in layer], -1)
        return {"logits": tf.cast(logits, tf.float32), "next_states": packed}

    rng = np.random.default_rng(0)
    part = PortablePart(
        name="step",
        function=step,
        inputs=(
            tf.TensorSpec([None], tf.int32, name="char_ids"),
            tf.TensorSpec([None, width], tf.float32, name="states"),
        ),
        example={
            "char_ids": rng.integers(0, len(vocabulary), EXAMPLE_ROWS).astype(np.int32),
            "states": (0.5 * rng.standard_normal((EXAMPLE_ROWS, width))).astype(np.float32),
        },
    )
    cell = model.rnn["cell"]
    layout = "; ".join(
        f"layer {i}: {' then '.join(f'{n}' for n in layer)}" for i, layer in enumerate(sizes)
    )
    contract = {
        "char_ids": "each character's index in vocabulary.json (0 = a character not seen "
        "in training)",
        "states": f"{width} floats per row, zeros before the first character, then the "
        f"step's next_states; layers bottom first ({cell}: {layout} columns, h before c)",
        "prime": "feed the prime one character a call (an empty prime: a newline); the "
        "logits of the last call predict the first generated character",
        "sampling": "divide the logits by the temperature, never draw id 0, sample (or "
        "argmax at temperature 0), feed the drawn id back as the next char_ids",
    }
    return PortableModel(
        parts=(part,),
        contract=contract,
        files={"vocabulary.json": json.dumps(vocabulary, ensure_ascii=False)},
        outside="the generation loop (reading the prime, sampling, feeding back) and "
        "UTF-8 decoding/encoding",
    )
