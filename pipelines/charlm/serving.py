"""Generation inside the graph (TensorFlow): the ``generate``/``sample`` SavedModel signatures,
``predict`` and the training samples all run :func:`generation_function`.

Bounds (``ServeConfig``; the signatures and ``predict``, not the training samples): a prime is
cut to its LAST ``max_chars`` characters, since generation continues from its end (the text
before them would only have warmed up the state); ``text`` is the prime as read plus the
generated characters. ``length`` is clipped to [0, ``max_generate``]. More than ``max_batch``
primes are rejected. ``predict`` marks a cut prime ``"truncated": true`` and says on stderr
when it clips ``--length``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from data.char_text import CharVocabulary
from models.char_lm import CharLanguageModel
from pipelines.spine.backend import graph_function
from pipelines.spine.saved_model import write_saved_model
from pipelines.spine.sections import ServeConfig
from pipelines.spine.serve_bounds import check_batch, cut_text
from pipelines.spine.task import input_lines

GENERATE_SIGNATURE = [
    tf.TensorSpec([None], tf.string, name="prime"),
    tf.TensorSpec([], tf.int32, name="length"),
    tf.TensorSpec([], tf.float32, name="temperature"),
]
SAMPLE_SIGNATURE = [
    *GENERATE_SIGNATURE,
    tf.TensorSpec([], tf.int32, name="top_k"),
    tf.TensorSpec([], tf.int64, name="seed"),
]


def generation_function(
    model: CharLanguageModel, vocabulary: CharVocabulary, bounds: ServeConfig | None = None
) -> Callable:
    """``generate(prime, length, temperature, top_k, seed) -> {"generated", "text"}``, within
    ``bounds`` when given (see the module doc).

    Each prime (a [batch] string tensor) is read one character at a time through
    ``model.step`` with an explicit state, then ``length`` characters are sampled and fed back,
    all inside one ``tf.while_loop``. An empty prime starts from a newline. The unknown id is
    never sampled; ``temperature`` <= 0 picks the most likely character; ``top_k`` > 0 samples
    among the k most likely; ``seed`` >= 0 makes the result repeatable, < 0 draws a seed.
    """
    code_points = tf.constant(vocabulary.code_points, tf.int32)
    output_points = tf.constant(np.concatenate([[0xFFFD], vocabulary.code_points]), tf.int32)
    newline = int(vocabulary.encode("\n")[0])
    size = len(vocabulary)
    never_unknown = tf.constant([-np.inf] + [0.0] * (size - 1), tf.float32)

    def to_ids(text):
        points = tf.strings.unicode_decode(text, "UTF-8", errors="replace")
        flat = points.flat_values
        index = tf.minimum(tf.searchsorted(code_points, flat), size - 2)
        known = tf.gather(code_points, index) == flat
        return points.with_flat_values(tf.where(known, index + 1, 0))

    def generate(prime, length, temperature, top_k, seed):
        if bounds is not None:
            prime, _ = cut_text(check_batch(prime, bounds.max_batch), bounds.max_chars, "tail")
            length = tf.minimum(length, bounds.max_generate)
        ids = to_ids(prime)
        batch = tf.shape(prime)[0]
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        width = tf.maximum(tf.reduce_max(tf.concat([lengths, [1]], 0)), 1)
        primes = ids.to_tensor(default_value=newline, shape=[None, None])
        primes = tf.pad(primes, [[0, 0], [0, width - tf.shape(primes)[1]]], constant_values=newline)
        lengths = tf.maximum(lengths, 1)  # empty primes read the newline in column 0
        length = tf.maximum(length, 0)
        steps = width - 1 + length
        base_seed = tf.where(seed >= 0, seed, tf.random.uniform([], 0, 2**31 - 1, dtype=tf.int64))
        k = tf.where(top_k > 0, tf.minimum(top_k, size), size)
        scale = tf.maximum(temperature, 1e-6)

        def body(t, current, states, samples):
            logits, states = model.step(current, states)
            logits = tf.cast(logits, tf.float32) / scale + never_unknown
            kth = tf.math.top_k(logits, k).values[:, -1:]
            logits = tf.where(logits < kth, -np.inf, logits)
            drawn = tf.random.stateless_categorical(
                logits, 1, seed=tf.stack([base_seed, tf.cast(t, tf.int64)]), dtype=tf.int32
            )[:, 0]
            chosen = tf.where(temperature > 0, drawn, tf.argmax(logits, -1, tf.int32))
            next_prime = primes[:, tf.minimum(t + 1, width - 1)]
            current = tf.where(t + 1 < lengths, next_prime, chosen)
            return t + 1, current, states, samples.write(t, chosen)

        samples = tf.TensorArray(tf.int32, size=steps, element_shape=[None])
        _, _, _, samples = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), primes[:, 0], model.initial_states(batch), samples),
        )
        # Row i's sample made at step t predicts character t + 1: its own text starts
        # after its prime, at step lengths[i] - 1.
        drawn = tf.transpose(tf.reshape(samples.stack(), [steps, batch]))
        positions = lengths[:, None] - 1 + tf.range(length)[None, :]
        generated_ids = tf.gather(drawn, positions, batch_dims=1)
        generated = tf.strings.unicode_encode(tf.gather(output_points, generated_ids), "UTF-8")
        return {"generated": generated, "text": tf.strings.join([prime, generated])}

    return generate


def sampler(
    model: CharLanguageModel, vocabulary: CharVocabulary, bounds: ServeConfig | None = None
) -> Callable[[str, int, float, int, int], str]:
    """``sample(prime, length, temperature, top_k, seed) -> generated`` for one prime in
    Python (one traced graph, the ``sample`` signature's, within ``bounds`` when given):
    ``predict``, the training samples and ``sample.txt``."""
    generate = graph_function(
        generation_function(model, vocabulary, bounds), input_signature=SAMPLE_SIGNATURE
    )

    def sample(prime: str, length: int, temperature: float, top_k: int, seed: int) -> str:
        out = generate(
            tf.constant([prime]),
            tf.constant(length),
            tf.constant(temperature, tf.float32),
            tf.constant(top_k),
            tf.constant(seed, tf.int64),
        )
        return out["generated"].numpy()[0].decode("utf-8")

    return sample


def export(
    model: CharLanguageModel,
    vocabulary: CharVocabulary,
    prime: str,
    temperature: float,
    path: Path,
    bounds: ServeConfig,
) -> dict[str, Any]:
    """Writes the SavedModel: ``generate`` (also ``serving_default``): prime [batch] strings,
    length and temperature scalars → generated and text [batch] strings; ``sample`` adds top_k
    and seed (seed < 0: random); both within ``bounds``. Returns the example call (primes
    ``prime`` and "")."""
    generate_fn = generation_function(model, vocabulary, bounds)

    @tf.function(input_signature=GENERATE_SIGNATURE)
    def generate(prime, length, temperature):
        return generate_fn(prime, length, temperature, tf.constant(0), tf.constant(-1, tf.int64))

    sample = tf.function(generate_fn, input_signature=SAMPLE_SIGNATURE)
    example = {
        "prime": tf.constant([prime, ""]),
        "length": tf.constant(40),
        "temperature": tf.constant(temperature, tf.float32),
    }
    generate(**example)  # traces both endpoints before tracking
    sample(**example, top_k=tf.constant(5), seed=tf.constant(1, tf.int64))
    # The first endpoint, generate, is serving_default too.
    write_saved_model(path, [model], {"generate": generate, "sample": sample})
    return example


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """``predict charlm`` options: the prime and how to sample."""
    parser.add_argument(
        "--prime",
        help="text to continue (default: one prime per stdin line; a newline "
        "when stdin is a terminal)",
    )
    parser.add_argument("--length", type=int, default=500, help="characters to generate")
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    parser.add_argument("--top-k", type=int, default=0, help="0 = all characters")
    parser.add_argument("--seed", type=int, default=None, help="fixed seed: same text again")
    parser.add_argument(
        "--plain", action="store_true", help="print the text itself instead of JSON lines"
    )


def predict(
    model: CharLanguageModel,
    vocabulary: CharVocabulary,
    inputs: Iterable[str] | None,
    args: Any,
    bounds: ServeConfig,
) -> Iterator[dict[str, Any]]:
    """One ``{"prime", "generated"}`` per prime, ``"truncated": true`` added when only the
    prime's last ``bounds.max_chars`` characters were read (``--plain`` prints the text
    instead)."""
    sample = sampler(model, vocabulary, bounds)
    length = getattr(args, "length", 500)
    if length < 0:
        raise ValueError(f"--length: must be >= 0, got {length}")
    if length > bounds.max_generate:
        print(
            f"[charlm] --length {length}: generating serve.max_generate = "
            f"{bounds.max_generate} characters",
            file=sys.stderr,
            flush=True,
        )
    seed = getattr(args, "seed", None)
    for prime in _primes(inputs, getattr(args, "prime", None)):
        generated = sample(
            prime,
            length,
            getattr(args, "temperature", 0.8),
            getattr(args, "top_k", 0),
            -1 if seed is None else seed,
        )
        if getattr(args, "plain", False):
            print(prime + generated, flush=True)
            continue
        record = {"prime": prime, "generated": generated}
        yield {**record, "truncated": True} if len(prime) > bounds.max_chars else record


def _primes(inputs: Iterable[str] | None, prime: str | None) -> Iterator[str]:
    """``--prime``, else one prime per input line; one empty prime when stdin is a terminal."""
    if prime is not None:
        yield prime
    elif inputs is None and sys.stdin.isatty():
        yield ""
    else:
        yield from input_lines(inputs, None)
