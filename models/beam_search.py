"""Greedy and beam search over a one-step decoder, in ``keras.ops`` (a graph loop under
``tf.function``, so an exported SavedModel decodes without Python).

A step function ``step(token_ids, state, constants) -> (logits, state)`` maps the previous
token of each row (shape (N,)) and the recurrent state (any nested structure of (N, ...)
tensors) to next-token logits (N, V). ``constants`` (e.g. encoder outputs and their mask)
are the same for every step. Scores are sums of the model's log-probabilities of the emitted
tokens, the end token included; banned ids are never emitted but the distribution is not
renormalised, so a score equals the log-probability a teacher-forced pass gives the output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

StepFn = Callable[[Any, Any, Any], tuple[Any, Any]]

_NEG = -1e9  # "impossible" log-probability; finite so that sums never give nan


def _batch_size(structure: Any):
    return ops.shape(keras.tree.flatten(structure)[0])[0]


def _log_probs(logits, banned_ids: Sequence[int]):
    logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    if not banned_ids:
        return logp
    vocab = ops.arange(ops.shape(logp)[-1], dtype="int32")
    banned = ops.any(
        ops.equal(ops.expand_dims(vocab, 1), ops.convert_to_tensor(list(banned_ids), "int32")),
        axis=1,
    )
    return ops.where(banned, _NEG, logp)


def _write(buffer, index, values):
    """``buffer[..., index] = values`` for a (…, L) buffer without scatter."""
    positions = ops.arange(ops.shape(buffer)[-1], dtype="int32")
    return ops.where(ops.equal(positions, index), ops.expand_dims(values, -1), buffer)


def length_penalty_factor(lengths, alpha: float):
    """GNMT length normalisation ``((5 + length) / 6) ** alpha`` (1 when ``alpha`` is 0)."""
    lengths = ops.cast(lengths, "float32")
    return ops.power((5.0 + lengths) / 6.0, alpha)


def _search_loop(body, tokens, state, output, finished, scores, lengths, max_length: int):
    """Runs ``body`` from step 0 until every row has finished or ``max_length`` steps;
    returns the final ``(output, scores, lengths)``."""

    def cond(i, tokens, state, output, finished, scores, lengths):
        return ops.logical_and(i < max_length, ops.logical_not(ops.all(finished)))

    loop = (ops.convert_to_tensor(0, "int32"), tokens, state, output, finished, scores, lengths)
    _, _, _, output, _, scores, lengths = ops.while_loop(
        cond, body, loop, maximum_iterations=max_length
    )
    return output, scores, lengths


def greedy_search(
    step: StepFn,
    state: Any,
    constants: Any,
    *,
    start_id: int,
    end_id: int,
    max_length: int,
    banned_ids: Sequence[int] = (),
    pad_id: int = 0,
) -> dict[str, Any]:
    """The most probable next token at every step, until ``end_id`` or ``max_length``.

    Returns ``tokens`` (B, max_length) int32, padded with ``pad_id`` after the end token,
    ``scores`` (B,) float32 log-probabilities and ``lengths`` (B,) tokens emitted (end
    included).
    """
    batch = _batch_size(state)
    tokens = ops.full((batch,), start_id, dtype="int32")
    output = ops.full((batch, max_length), pad_id, dtype="int32")
    finished = ops.zeros((batch,), dtype="bool")
    scores = ops.zeros((batch,), dtype="float32")
    lengths = ops.zeros((batch,), dtype="int32")

    def body(i, tokens, state, output, finished, scores, lengths):
        logits, state = step(tokens, state, constants)
        logp = _log_probs(logits, banned_ids)
        best = ops.cast(ops.argmax(logp, axis=-1), "int32")
        best_logp = ops.squeeze(ops.take_along_axis(logp, ops.expand_dims(best, 1), axis=1), 1)
        best = ops.where(finished, pad_id, best)
        scores = scores + ops.where(finished, 0.0, best_logp)
        lengths = lengths + ops.cast(ops.logical_not(finished), "int32")
        output = _write(output, i, best)
        finished = ops.logical_or(finished, ops.equal(best, end_id))
        return i + 1, best, state, output, finished, scores, lengths

    output, scores, lengths = _search_loop(
        body, tokens, state, output, finished, scores, lengths, max_length
    )
    return {"tokens": output, "scores": scores, "lengths": lengths}


def _repeat(structure: Any, times: int) -> Any:
    return keras.tree.map_structure(lambda x: ops.repeat(x, times, axis=0), structure)


def beam_search(
    step: StepFn,
    state: Any,
    constants: Any,
    *,
    beam_size: int,
    start_id: int,
    end_id: int,
    max_length: int,
    length_penalty: float = 0.0,
    banned_ids: Sequence[int] = (),
    pad_id: int = 0,
) -> dict[str, Any]:
    """Keeps the ``beam_size`` most probable prefixes of each row at every step.

    A finished hypothesis (it emitted ``end_id``) stays in the beam with its score and grows
    only padding, competing with the open ones until the search stops (all hypotheses
    finished, or ``max_length``). The returned hypothesis is the one with the best
    ``score / length_penalty_factor(length, length_penalty)``; with ``length_penalty=0``
    that is the best log-probability.

    Returns ``tokens`` (B, max_length), ``scores`` (B,) (log-probabilities), ``lengths``
    (B,), and every hypothesis in ``beam_tokens`` (B, K, max_length), ``beam_scores`` and
    ``beam_lengths`` (B, K), best raw score first.
    """
    k = beam_size
    batch = _batch_size(state)
    state = _repeat(state, k)
    constants = _repeat(constants, k)
    # Only the first copy of each row is live at the start, or the beam would hold k copies
    # of the same hypothesis.
    scores = ops.tile(
        ops.expand_dims(ops.concatenate([ops.zeros((1,)), ops.full((k - 1,), _NEG)]), 0),
        (batch, 1),
    )
    tokens = ops.full((batch * k,), start_id, dtype="int32")
    output = ops.full((batch, k, max_length), pad_id, dtype="int32")
    finished = ops.zeros((batch, k), dtype="bool")
    lengths = ops.zeros((batch, k), dtype="int32")
    row_offsets = ops.expand_dims(ops.arange(batch, dtype="int32") * k, 1)

    def body(i, tokens, state, output, finished, scores, lengths):
        logits, state = step(tokens, state, constants)
        logp = _log_probs(logits, banned_ids)
        vocab = ops.shape(logp)[-1]
        logp = ops.reshape(logp, (batch, k, vocab))
        # A finished hypothesis can only add padding, at no cost.
        padding_only = ops.where(ops.arange(vocab, dtype="int32") == pad_id, 0.0, _NEG)
        logp = ops.where(ops.expand_dims(finished, -1), padding_only, logp)
        total = ops.reshape(ops.expand_dims(scores, -1) + logp, (batch, k * vocab))
        scores, flat = ops.top_k(total, k)
        flat = ops.cast(flat, "int32")
        parent = flat // vocab
        token = flat % vocab
        rows = ops.reshape(row_offsets + parent, (-1,))
        state = keras.tree.map_structure(lambda x: ops.take(x, rows, axis=0), state)
        output = ops.take_along_axis(output, ops.expand_dims(parent, -1), axis=1)
        output = _write(output, i, token)
        was_finished = ops.take_along_axis(finished, parent, axis=1)
        lengths = ops.take_along_axis(lengths, parent, axis=1) + ops.cast(
            ops.logical_not(was_finished), "int32"
        )
        finished = ops.logical_or(was_finished, ops.equal(token, end_id))
        return i + 1, ops.reshape(token, (-1,)), state, output, finished, scores, lengths

    output, scores, lengths = _search_loop(
        body, tokens, state, output, finished, scores, lengths, max_length
    )
    normalised = scores / length_penalty_factor(lengths, length_penalty)
    best = ops.expand_dims(ops.cast(ops.argmax(normalised, axis=1), "int32"), 1)
    return {
        "tokens": ops.squeeze(ops.take_along_axis(output, ops.expand_dims(best, -1), axis=1), 1),
        "scores": ops.squeeze(ops.take_along_axis(scores, best, axis=1), 1),
        "lengths": ops.squeeze(ops.take_along_axis(lengths, best, axis=1), 1),
        "beam_tokens": output,
        "beam_scores": scores,
        "beam_lengths": lengths,
    }
