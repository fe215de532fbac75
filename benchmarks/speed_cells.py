"""Speed section ``cells``: a train step (forward + backward + Adam) of the stack's recurrent
layers against ``keras.layers.LSTM``/``GRU``, interleaved in one process.

Two shapes, from the issue: a BiLSTM(128) at T=200 (the sentiment model's recurrent layer)
and a unidirectional 2×256 stack at T=100 (the char-LM's). Per shape, every arm is a small
model (float features → recurrent layers → Dense) trained on the same batch:

- ``keras_lstm`` / ``keras_gru``: ``keras.layers.LSTM``/``GRU`` (the references);
- ``stack_lstm``: ``RNNStack(cell="lstm")`` (the stack's plain cell: Keras' own layer);
- ``ln_lstm`` / ``ln_gru``: ``RNNStack(cell="ln_lstm"/"ln_gru")`` (``LayerNormRNN``, fast step);
- ``ln_lstm_plain`` / ``ln_gru_plain``: ``keras.layers.RNN`` over the same cells, which runs
  their plain step: how the stack ran them before issue 14 (context for the speed-up).

Ratios pair the arms round by round (``speed_timing.paired``), medians over rounds; CPU utilisation
(cores busy = process CPU time / wall) is taken per arm over separate steps afterwards.
No masks (every arm would pay the same three ``where`` per step).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from benchmarks.speed_timing import compare, cpu_usage, paired

# name → (units, layers, bidirectional, sequence length, batch, input features, every step out)
SHAPES: dict[str, tuple[int, int, bool, int, int, int, bool]] = {
    "bilstm128_t200": (128, 1, True, 200, 64, 128, False),
    "uni2x256_t100": (256, 2, False, 100, 64, 64, True),
}
ARMS = (
    "keras_lstm",
    "stack_lstm",
    "ln_lstm",
    "ln_lstm_plain",
    "keras_gru",
    "ln_gru",
    "ln_gru_plain",
)
# arm → the arm it is compared with
PAIRS = {
    "ln_lstm": "keras_lstm",
    "ln_gru": "keras_gru",
    "stack_lstm": "keras_lstm",
    "ln_lstm_plain": "keras_lstm",
    "ln_gru_plain": "keras_gru",
}
# goal targets per shape: the (1.2× at BiLSTM(128), 1.1× at 2×256)
TARGETS = {"bilstm128_t200": 1.2, "uni2x256_t100": 1.1}


def _layers(arm: str, units: int, layers: int, bidirectional: bool, sequences_out: bool):
    """The recurrent part of one arm, as a list of layers to apply in order."""
    import keras

    from models.layer_norm_gru_cell import LayerNormGRUCell
    from models.layer_norm_lstm_cell import LayerNormLSTMCell
    from models.rnn_stack import RNNStack

    if arm in ("stack_lstm", "ln_lstm", "ln_gru"):
        cell = {"stack_lstm": "lstm", "ln_lstm": "ln_lstm", "ln_gru": "ln_gru"}[arm]
        return [
            RNNStack(
                cell=cell,
                units=units,
                num_layers=layers,
                bidirectional=bidirectional,
                return_sequences=sequences_out,
            )
        ]
    made: list[Callable[[bool], Any]] = {
        "keras_lstm": lambda seq: keras.layers.LSTM(units, return_sequences=seq),
        "keras_gru": lambda seq: keras.layers.GRU(units, return_sequences=seq),
        "ln_lstm_plain": lambda seq: keras.layers.RNN(
            LayerNormLSTMCell(units), return_sequences=seq
        ),
        "ln_gru_plain": lambda seq: keras.layers.RNN(LayerNormGRUCell(units), return_sequences=seq),
    }[arm]
    out = []
    for index in range(layers):
        layer = made(sequences_out or index < layers - 1)
        out.append(keras.layers.Bidirectional(layer) if bidirectional else layer)
    return out


def _model(arm: str, shape: tuple):
    import keras

    units, layers, bidirectional, length, _, features, sequences_out = shape
    keras.utils.set_random_seed(1)
    inputs = keras.Input((length, features))
    x = inputs
    for layer in _layers(arm, units, layers, bidirectional, sequences_out):
        x = layer(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(optimizer="adam", loss="mse")
    return model


def shape_ratios(name: str, repeats: int, steps: int) -> dict[str, Any]:
    """Every arm at one shape: interleaved train steps, paired ratios, cores busy."""
    import numpy as np

    shape = SHAPES[name]
    units, layers, bidirectional, length, batch, features, sequences_out = shape
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, length, features)).astype("float32")
    y_shape = (batch, length, 1) if sequences_out else (batch, 1)
    y = rng.normal(size=y_shape).astype("float32")
    models = {arm: _model(arm, shape) for arm in ARMS}

    def arm_step(arm: str) -> Callable[[], None]:
        def step() -> None:
            for _ in range(steps):
                float(models[arm].train_on_batch(x, y))  # float(): waits for the step

        return step

    arms = {arm: arm_step(arm) for arm in ARMS}
    timing = compare(arms, repeats=repeats, warmup=1)
    cores = {arm: round(cpu_usage(fn).cores_busy, 2) for arm, fn in arms.items()}
    return {
        "shape": {
            "units": units,
            "layers": layers,
            "bidirectional": bidirectional,
            "sequence_length": length,
            "batch": batch,
            "input_features": features,
            "steps_per_round": steps,
        },
        "ratio": {arm: paired(timing["times_s"], arm, ref) for arm, ref in PAIRS.items()},
        "fast_over_plain": {
            "ln_lstm": paired(timing["times_s"], "ln_lstm", "ln_lstm_plain"),
            "ln_gru": paired(timing["times_s"], "ln_gru", "ln_gru_plain"),
        },
        "cores_busy": cores,
        "timing": timing,
    }


def _threads() -> dict[str, Any]:
    import tensorflow as tf

    return {
        "cpu_count": os.cpu_count(),
        # 0 = TensorFlow's default (one thread per core for both pools)
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def measure(quick: bool) -> dict[str, Any]:
    """Ratios of the stack's cells to Keras' LSTM/GRU at both shapes, and cores busy."""
    import keras

    repeats, steps = (3, 1) if quick else (7, 2)
    found = {name: shape_ratios(name, repeats, steps) for name in SHAPES}
    goals, figures = [], []
    for name, result in found.items():
        ratio, target = result["ratio"], TARGETS[name]
        goals += [
            {
                "name": f"ln_lstm / keras LSTM train step, {name}",
                "value": ratio["ln_lstm"],
                "op": "<=",
                "target": target,
                "unit": "×",
            },
            {
                "name": f"ln_gru / keras GRU train step, {name}",
                "value": ratio["ln_gru"],
                "op": "<=",
                "target": target,
                "unit": "×",
            },
            {
                # the stack's lstm IS keras.layers.LSTM: 1.0 up to the machine's noise
                "name": f"stack lstm / keras LSTM train step, {name}",
                "value": ratio["stack_lstm"],
                "op": "<=",
                "target": 1.05,
                "unit": "×",
            },
        ]
        busy = result["cores_busy"]
        figures += [
            {
                "name": f"before issue 14: ln_lstm / keras LSTM, {name}",
                "value": ratio["ln_lstm_plain"],
                "unit": "×",
            },
            {
                "name": f"before issue 14: ln_gru / keras GRU, {name}",
                "value": ratio["ln_gru_plain"],
                "unit": "×",
            },
            {
                "name": f"cores busy, ln_lstm / keras LSTM, {name}",
                "value": f"{busy['ln_lstm']} / {busy['keras_lstm']}",
            },
        ]
    return {
        "shapes": found,
        "backend": keras.backend.backend(),
        "threads": _threads(),
        "goals": goals,
        "figures": figures,
        "notes": (
            f"train steps (Adam, MSE, float features, no mask), medians of {repeats} "
            f"interleaved rounds of {steps} step(s); ratio = paired per round; cores busy = "
            "process CPU time / wall over one more round per arm"
        ),
    }
