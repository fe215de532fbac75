"""Greedy and beam search over a one-step decoder, in ``keras.ops`` (a graph loop under
``tf.function``, so an exported SavedModel decodes without Python).

A step function ``step(token_ids, state, constants) -> (logits, state)`` maps the previous
token of each row (shape (N,)) and the recurrent state (any nested structure of (N, ...)
tensors) to next-token logits (N, V). ``constants`` (e.g. encoder outputs and their mask)
are the same for every step and have one row per *source*: the N decoder rows come in groups
of ``G = N / rows(constants)`` consecutive rows per source (greedy: G = 1; beam search:
G = ``beam_size``, except G = 1 on the first step, where every hypothesis of a source is
still the start token). Beam search hands the step only the sources still searching.

Scores are sums of the model's log-probabilities of the emitted tokens, the end token
included; banned ids are never emitted but the distribution is not renormalised, so a score
equals the log-probability a teacher-forced pass gives the output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

StepFn = Callable[[Any, Any, Any], tuple[Any, Any]]

_NEG = -1e9  # "impossible" log-probability; finite so that sums never give nan

# Beam search's top-k goes through the maxima of chunks of a vocabulary row (see _choose):
# TensorFlow's TopK costs several ns per element on CPU, a max-reduction a fraction of one.
# Vocabularies up to this size are one chunk.
_SMALL_VOCABULARY = 64


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


# --- beam search ---


def chunk_layout(vocabulary_size: int | None) -> tuple[int | None, int]:
    """``(chunk width, chunks)`` that beam search cuts a vocabulary row into: a width that
    divides the vocabulary near its square root where there is one (no padding), one chunk
    for small or unknown vocabularies."""
    if vocabulary_size is None or vocabulary_size <= _SMALL_VOCABULARY:
        return vocabulary_size, 1
    root = math.sqrt(vocabulary_size)
    divisors = [
        d for d in range(math.ceil(root / 2), math.floor(2 * root) + 1) if vocabulary_size % d == 0
    ]
    width = min(divisors, key=lambda d: abs(d - root)) if divisors else math.ceil(root)
    return width, -(-vocabulary_size // width)


def _rows_of(x, index):
    """``x[b, index[b, j]]`` for x (B, K, ...) and index (B, J): one flat gather (cheaper
    than take_along_axis, which broadcasts and transposes)."""
    batch, k = ops.shape(x)[0], ops.shape(x)[1]
    flat = ops.reshape(index + ops.expand_dims(ops.arange(batch, dtype="int32") * k, 1), (-1,))
    picked = ops.take(ops.reshape(x, (-1, *x.shape[2:])), flat, axis=0)
    return ops.reshape(picked, (batch, -1, *x.shape[2:]))


def _unban_maxima(maxima, logits, lse, banned_ids: Sequence[int], width: int, chunks: int):
    """Chunk maxima of log-probabilities (R, chunks) with banned ids counted as ``_NEG``:
    only the chunks holding one are recomputed (a slice each), not the whole row."""
    positions = ops.arange(chunks, dtype="int32")
    for chunk in sorted({t // width for t in banned_ids}):
        offsets = {t - chunk * width for t in banned_ids if t // width == chunk}
        banned = ops.convert_to_tensor([o in offsets for o in range(width)], "bool")
        part = logits[:, chunk * width : (chunk + 1) * width]
        best = ops.max(ops.where(banned, -float("inf"), part), axis=-1, keepdims=True)
        fixed = ops.maximum(best - lse, _NEG)  # = max over the chunk of where(banned, _NEG, logp)
        maxima = ops.where(ops.equal(positions, chunk), fixed, maxima)
    return maxima


def _id_kinds(vocab: int, width: int, chunks: int, banned_ids: Sequence[int]):
    """(chunks, width) int32: 0 an id, 1 a banned id, 2 padding past the vocabulary."""
    kinds = [0] * vocab + [2] * (width * chunks - vocab)
    for t in banned_ids:
        kinds[t] = 1
    return ops.reshape(ops.convert_to_tensor(kinds, "int32"), (chunks, width))


def _choose(logits, group: int, rows_step, finished, scores, *, banned_ids, pad_id: int):
    """One beam step: the k best continuations of each source among its K hypotheses'
    (K · V) — the same choice and ties as ``ops.top_k`` over every ``score + logp``
    (finished hypotheses offering only padding at no cost), without building that array.

    ``logits`` (R, V) are the step's, ``group`` rows per searching source (1 on the first
    step: a source's hypotheses are alike), the source at ``rows_step`` (B,) among them.
    ``logp = logits - lse`` with ``lse = max - log(max(softmax))`` (oneDNN's softmax is ~2.5×
    faster than TensorFlow's log_softmax on CPU; the largest probability is ≥ 1/V, so its log
    is exact to rounding). A row is cut into chunks; the k best elements of a source lie in
    its k chunks with the best maxima (ties: lower chunk, lower parent), and
    ``score + (max(chunk) - lse) == max(score + (chunk - lse))`` exactly (rounding is
    monotonic), so top_k runs over chunk maxima (B, K · chunks), then over the k chosen
    chunks' elements (B, k · width), gathered in index order so that its lower-index-first
    tie rule is the full selection's. Returns ``(parent, token, scores)``, (B, K) each.
    """
    k = scores.shape[1]
    logits = ops.cast(logits, "float32")
    vocab = logits.shape[-1]
    width, chunks = chunk_layout(vocab)
    top_probability = ops.max(ops.softmax(logits, axis=-1), axis=-1, keepdims=True)
    if vocab is None:
        vocab = width = ops.shape(logits)[-1]
    else:
        banned_ids = tuple(t for t in banned_ids if 0 <= t < vocab)
    padded = isinstance(vocab, int) and width * chunks != vocab
    if padded:  # to whole chunks; -inf is never chosen over an id
        padding = [(0, 0), (0, width * chunks - vocab)]
        logits = ops.pad(logits, padding, constant_values=-float("inf"))
    rows = ops.shape(logits)[0]
    blocks = ops.reshape(logits, (rows * chunks, width))
    maxima = ops.reshape(ops.max(blocks, axis=-1), (rows, chunks))
    lse = ops.max(maxima, axis=-1, keepdims=True) - ops.log(top_probability)  # (R, 1)
    maxima = maxima - lse
    if banned_ids:
        maxima = _unban_maxima(maxima, logits, lse, banned_ids, width, chunks)
    maxima = ops.reshape(maxima, (-1, group, chunks))
    if rows_step is not None:  # back to one entry per source (compacted batch)
        maxima = ops.take(maxima, rows_step, axis=0)
    if group == 1:
        maxima = ops.repeat(maxima, k, axis=1)
    # (B, K, chunks) maxima of score + logp; a finished parent offers padding at no cost.
    pad_chunk = ops.equal(ops.arange(chunks, dtype="int32"), pad_id // width)
    done = ops.where(pad_chunk, 0.0, _NEG)
    maxima = ops.expand_dims(scores, -1) + ops.where(ops.expand_dims(finished, -1), done, maxima)
    batch = ops.shape(scores)[0]
    _, best = ops.top_k(ops.reshape(maxima, (batch, k * chunks)), k)
    best = ops.sort(ops.cast(best, "int32"), axis=-1)  # index order, for the ties
    parent, chunk = best // chunks, best % chunks
    row = parent if group > 1 else ops.zeros_like(parent)
    if rows_step is None:
        row = row + ops.expand_dims(ops.arange(batch, dtype="int32") * group, 1)
    else:
        row = row + ops.expand_dims(rows_step * group, 1)
    picked = ops.take(blocks, ops.reshape(row * chunks + chunk, (-1,)), axis=0)
    picked = ops.reshape(picked, (batch, k, width)) - ops.take(lse, row, axis=0)
    ids = ops.expand_dims(chunk * width, -1) + ops.arange(width, dtype="int32")
    if isinstance(vocab, int) and (banned_ids or padded):
        kinds = ops.take(_id_kinds(vocab, width, chunks, banned_ids), chunk, axis=0)
        if banned_ids:
            picked = ops.where(ops.equal(kinds, 1), _NEG, picked)
    elif banned_ids:  # unknown vocabulary size: one chunk, nothing padded
        banned = ops.convert_to_tensor(list(banned_ids), "int32")
        picked = ops.where(ops.any(ops.equal(ops.expand_dims(ids, -1), banned), -1), _NEG, picked)
    # The parent's score and whether it finished, in one gather.
    parent_books = _rows_of(ops.stack([scores, ops.cast(finished, "float32")], axis=-1), parent)
    parent_score, parent_done = parent_books[..., :1], parent_books[..., 1:] > 0.5
    offered = ops.where(ops.equal(ids, pad_id), 0.0, _NEG)
    values = parent_score + ops.where(parent_done, offered, picked)
    if padded:
        values = ops.where(ops.equal(kinds, 2), -float("inf"), values)
    scores, position = ops.top_k(ops.reshape(values, (batch, k * width)), k)
    position = ops.cast(position, "int32")
    best = ops.squeeze(_rows_of(ops.expand_dims(best, -1), position // width), -1)
    token = (best % chunks) * width + position % width
    return best // chunks, token, scores


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
    compact: bool | None = None,
) -> dict[str, Any]:
    """Keeps the ``beam_size`` most probable prefixes of each row at every step.

    A finished hypothesis (it emitted ``end_id``) stays in the beam with its score and grows
    only padding, competing with the open ones until the search stops (all hypotheses
    finished, or ``max_length``). The returned hypothesis is the one with the best
    ``score / length_penalty_factor(length, length_penalty)``; with ``length_penalty=0``
    that is the best log-probability.

    The decoder runs once per step for every source still searching, its K hypotheses
    together (one row each; the first step one row per source). With ``compact`` (default:
    on the TensorFlow backend, whose loops allow a shrinking batch) a source whose K
    hypotheses have all finished leaves the decoder's batch; without it, it stays and its
    rows are ignored. Finished hypotheses of a source still searching keep their rows (a
    source's K rows stay together for attention over its one copy of the constants); their
    logits are ignored. Either way the result is the same.

    Returns ``tokens`` (B, max_length), ``scores`` (B,) (log-probabilities), ``lengths``
    (B,), and every hypothesis in ``beam_tokens`` (B, K, max_length), ``beam_scores`` and
    ``beam_lengths`` (B, K), best raw score first.
    """
    k = beam_size
    if compact is None:
        compact = keras.backend.backend() == "tensorflow"
    choose = dict(banned_ids=tuple(sorted(set(banned_ids))), pad_id=pad_id)
    batch = _batch_size(state)
    # Only the first copy of each row is live at the start, or the beam would hold k copies
    # of the same hypothesis.
    scores = ops.tile(
        ops.expand_dims(ops.concatenate([ops.zeros((1,)), ops.full((k - 1,), _NEG)]), 0),
        (batch, 1),
    )
    output = ops.full((batch, k, max_length), pad_id, dtype="int32")
    finished = ops.zeros((batch, k), dtype="bool")
    if max_length < 1:
        return _best(output, scores, 0, end_id, length_penalty)

    def extend(i, parent, token, output):
        """The new hypotheses' outputs and whether they finished (an end token anywhere:
        after it, a hypothesis only grows padding)."""
        output = _write(_rows_of(output, parent), i, token)
        return output, ops.any(ops.equal(output, end_id), axis=-1)

    def advance(rows_step, group: int, parent, token, finished, state, constants):
        """The decoder's next inputs: the hypotheses of the sources still searching (all
        sources unless ``compact``), each with its parent's state; and the new
        ``rows_step`` (each source's position among them; None: every source, in order)."""
        if not compact:
            rows = ops.expand_dims(ops.arange(batch, dtype="int32") * group, 1)
            rows = rows + parent if group > 1 else ops.repeat(rows, k, axis=1)
            rows = ops.reshape(rows, (-1,))
            state = keras.tree.map_structure(lambda x: ops.take(x, rows, axis=0), state)
            return ops.reshape(token, (-1,)), state, constants, rows_step
        searching = ops.logical_not(ops.all(finished, axis=1))
        keep = ops.nonzero(searching)[0]
        source_row = keep if rows_step is None else ops.take(rows_step, keep)
        rows = ops.expand_dims(source_row * group, 1)
        rows = rows + ops.take(parent, keep, axis=0) if group > 1 else ops.repeat(rows, k, 1)
        rows = ops.reshape(rows, (-1,))
        state = keras.tree.map_structure(lambda x: ops.take(x, rows, axis=0), state)
        before = ops.shape(keras.tree.flatten(constants)[0])[0]
        constants = ops.cond(  # gathered only when a source has left
            ops.equal(ops.shape(keep)[0], before),
            lambda: constants,
            lambda: keras.tree.map_structure(lambda x: ops.take(x, source_row, axis=0), constants),
        )
        # Each source's position among those left (the others' value is never read).
        rows_next = ops.maximum(ops.cumsum(ops.cast(searching, "int32")) - 1, 0)
        return ops.reshape(ops.take(token, keep, axis=0), (-1,)), state, constants, rows_next

    # Step 0: one decoder row per source (every hypothesis is the start token).
    logits, state = step(ops.full((batch,), start_id, dtype="int32"), state, constants)
    parent, token, scores = _choose(logits, 1, None, finished, scores, **choose)
    output, finished = extend(0, parent, token, output)
    tokens, state, constants, rows_step = advance(
        None, 1, parent, token, finished, state, constants
    )
    if max_length == 1:
        return _best(output, scores, 1, end_id, length_penalty)

    def body(i, tokens, state, constants, rows_step, output, finished, scores):
        logits, state = step(tokens, state, constants)
        here = rows_step if compact else None
        parent, token, scores = _choose(logits, k, here, finished, scores, **choose)
        output, finished = extend(i, parent, token, output)
        tokens, state, constants, rows_step = advance(
            rows_step, k, parent, token, finished, state, constants
        )
        return i + 1, tokens, state, constants, rows_step, output, finished, scores

    def cond(i, tokens, state, constants, rows_step, output, finished, scores):
        return ops.logical_and(i < max_length, ops.logical_not(ops.all(finished)))

    if rows_step is None:  # uncompacted: a fixed loop variable instead of None
        rows_step = ops.arange(batch, dtype="int32")
    loop = (ops.convert_to_tensor(1, "int32"), tokens, state, constants, rows_step)
    steps, *_, output, _, scores = ops.while_loop(
        cond, body, (*loop, output, finished, scores), maximum_iterations=max_length - 1
    )
    return _best(output, scores, steps, end_id, length_penalty)


def _best(output, scores, steps, end_id: int, length_penalty: float) -> dict[str, Any]:
    """The result: each hypothesis's length is up to its end token (included), or the
    ``steps`` the search ran when it has none."""
    max_length = output.shape[-1]
    is_end = ops.equal(output, end_id)
    if max_length:
        positions = ops.arange(max_length, dtype="int32")
        first_end = ops.min(ops.where(is_end, positions, max_length), axis=-1)
        lengths = ops.where(ops.any(is_end, axis=-1), first_end + 1, steps)
    else:
        lengths = ops.zeros(ops.shape(scores), "int32")
    lengths = ops.cast(lengths, "int32")
    normalised = scores / length_penalty_factor(lengths, length_penalty)
    best = ops.expand_dims(ops.cast(ops.argmax(normalised, axis=1), "int32"), 1)
    return {
        "tokens": ops.reshape(_rows_of(output, best), (-1, output.shape[-1])),
        "scores": ops.squeeze(ops.take_along_axis(scores, best, axis=1), 1),
        "lengths": ops.squeeze(ops.take_along_axis(lengths, best, axis=1), 1),
        "beam_tokens": output,
        "beam_scores": scores,
        "beam_lengths": lengths,
    }
