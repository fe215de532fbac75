"""Speed section ``reference``: the sentiment model without the bag against the keras-io
BiLSTM recipe, examples/s while training on the same reviews.

The reference is the keras-io example "Bidirectional LSTM on IMDB" (keras.io/examples/nlp/
bidirectional_lstm_imdb): ``Embedding → Bidirectional(LSTM, return_sequences) →
Bidirectional(LSTM) → Dense(sigmoid)``, reviews cut and padded to a fixed length with
``keras.utils.pad_sequences`` (its defaults: both at the front), ``adam``, binary
cross-entropy, no mask. Three arms of it run:

- ``keras_io``: the recipe at our width and depth (one ``Bidirectional(LSTM(units))`` over an
  ``Embedding(vocabulary, embedding_dim)``), the comparison the issue's goal is about;
- ``keras_io_literal``: the recipe as published (two ``Bidirectional(LSTM(64))``), context;
- ``keras_io_masked``: the same-width recipe with ``mask_zero=True`` on its embedding, context:
  the share of the gap that masking the padding takes (ours masks it everywhere, so that a
  review's prediction does not depend on its batch's padding; the recipe does not).

``ours_unpinned`` is a twin of ``ours`` (below) not pinned to the training batch size
(``models.rnn_stack.pin_training_batch``, which the runner does): context, what the pin gains
(the ``pin`` section measures it between two twins).

``ours`` is the sentiment task's model from its config with ``model.bigram_buckets=0`` and
``data.max_length`` set to the recipe's length, compiled by the runner's ``_prepare`` (its
optimizer, EMA and in-step gradient-norm record included) and fed by the task's own tf.data
pipeline (length buckets, padding per batch). All arms see the same token ids: the reference
arms' reviews are read back from our training batches. Each round fits every arm for
``steps`` batches of the same size (a fresh iterator each time, so each pays the same
start-up), the order rotating; the figure is the median over rounds of our examples/s over the
reference's. Full: ``configs/sentiment.yaml`` on IMDB (DATA_ROOT); ``--quick``: the sample
config on the bundled sentences.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.speed_loop import compiled_twin
from benchmarks.speed_timing import MachineLoad, compare, cpu_usage, paired, progress

ROOT = Path(__file__).resolve().parent.parent
MAX_LENGTH = 200  # keras-io's maxlen
GOAL = 1.0  # ours ≥ the reference's examples/s
LITERAL_UNITS = 64  # the published recipe: two Bidirectional(LSTM(64))


_say = progress("speed reference")


def reference_model(
    vocabulary_size: int, embedding_dim: int, units: int, layers: int, mask: bool = False
):
    """The keras-io recipe with ``layers`` Bidirectional LSTMs of ``units`` each (``mask``:
    the embedding masks id 0, which the recipe does not)."""
    import keras

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=mask)(inputs)
    for index in range(layers):
        last = index == layers - 1
        x = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=not last))(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def read_back(dataset, max_batches: int) -> tuple[list[list[int]], list[float]]:
    """Token ids (padding dropped) and labels of up to ``max_batches`` batches of ``dataset``."""
    rows: list[list[int]] = []
    labels: list[float] = []
    for ids, y in dataset.take(max_batches):
        for row, label in zip(ids.numpy(), y.numpy(), strict=True):
            rows.append([int(t) for t in row if t != 0])
            labels.append(float(label))
    return rows, labels


def measure(quick: bool) -> dict[str, Any]:
    """Ours / keras-io examples/s while training (goal ≥ 1.0)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from data.dataset_options import without_autotune
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    task = get_task("sentiment")
    if quick:
        config, overrides = ROOT / "configs" / "sentiment_sample.yaml", []
    else:
        config = ROOT / "configs" / "sentiment.yaml"
        overrides = ["data.source=files", f"data.max_length={MAX_LENGTH}"]
    cfg = load_config(task.config_class, config, [*overrides, "model.bigram_buckets=0"])
    steps, repeats = (10, 5) if quick else (30, 7)
    batch = cfg.train.batch_size
    with tempfile.TemporaryDirectory(prefix="speed-reference-") as tmp:
        _say(f"preparing {config.name} (bigram_buckets=0, max_length {cfg.data.max_length})")
        with contextlib.redirect_stderr(io.StringIO()):
            ours, prepared, epoch_steps = runner._prepare(task, cfg, Path(tmp))
        unpinned = compiled_twin(task, cfg, prepared.info, epoch_steps)  # as ours, not pinned
        rows, labels = read_back(prepared.train, max_batches=4 * steps)
        padded = keras.utils.pad_sequences(rows, maxlen=cfg.data.max_length)  # keras-io's way
        # The same tf.data options as ours (data/dataset_options.py): with autotune on, an
        # iterator's shutdown at the end of a fit can stall for seconds, which would be timed.
        reference_data = without_autotune(
            tf.data.Dataset.from_tensor_slices((padded.astype("int32"), np.float32(labels)))
            .shuffle(len(rows), seed=cfg.seed)
            .batch(batch, drop_remainder=True)
            .repeat()
            .prefetch(2)
        )
        ours_data = prepared.train.repeat()
        vocabulary = len(prepared.info.vocabulary)
        width = cfg.model.rnn.units
        models = {
            "ours": (ours, ours_data),
            "ours_unpinned": (unpinned, ours_data),
            "keras_io": (
                reference_model(vocabulary, cfg.model.embedding_dim, width, 1),
                reference_data,
            ),
            "keras_io_literal": (
                reference_model(vocabulary, cfg.model.embedding_dim, LITERAL_UNITS, 2),
                reference_data,
            ),
            "keras_io_masked": (
                reference_model(vocabulary, cfg.model.embedding_dim, width, 1, mask=True),
                reference_data,
            ),
        }
        cores: dict[str, list[float]] = {name: [] for name in models}

        def arm(name: str):
            model, data = models[name]

            def fit() -> None:
                usage = cpu_usage(
                    lambda: model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
                )
                cores[name].append(usage.cores_busy)

            return fit

        _say(f"{repeats} rounds of {steps} steps × batch {batch} per arm, interleaved")
        with MachineLoad() as load:
            timing = compare(
                {name: arm(name) for name in models},
                repeats=repeats,
                warmup=1,
                reference="keras_io",
            )
        keras.backend.clear_session()
    # examples/s ratio = inverse of the time ratio (same steps × batch in every arm)
    speed = {name: round(1 / r, 3) for name, r in timing["ratio"].items() if r}
    # examples/s pinned / unpinned = time unpinned / pinned, round by round
    pinned_gain = paired(timing["times_s"], "ours_unpinned", "ours")
    return {
        "what": "sentiment model without the bag vs the keras-io BiLSTM recipe at the same "
        "width, examples/s while training on the same reviews (median of per-round ratios)",
        "config": str(config.relative_to(ROOT)),
        "overrides": [*overrides, "model.bigram_buckets=0"],
        "max_length": cfg.data.max_length,
        "batch_size": batch,
        "steps_per_round": steps,
        "units": width,
        "examples_per_s_ratio": speed,
        "examples_per_s": {
            name: round(steps * batch / s, 1) for name, s in timing["median_s"].items()
        },
        "cores_busy": {name: round(float(np.median(c[1:] or c)), 3) for name, c in cores.items()},
        "timing": timing,
        "machine_load": load.as_dict(),
        "goals": [
            {
                "name": "sentiment without the bag / keras-io BiLSTM, examples/s",
                "value": speed["ours"],
                "op": ">=",
                "target": GOAL,
                "unit": "×",
            }
        ],
        "figures": [
            {
                "name": "keras-io recipe as published (2×BiLSTM(64)) / same-width recipe, "
                "examples/s",
                "value": speed["keras_io_literal"],
                "unit": "×",
            },
            {
                "name": "same-width recipe with its padding masked / unmasked, examples/s",
                "value": speed["keras_io_masked"],
                "unit": "×",
            },
            {
                "name": "ours (pinned to the training batch) / an unpinned twin, examples/s",
                "value": pinned_gain,
                "unit": "×",
            },
        ],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(measure("--quick" in sys.argv), indent=2))
