"""Beam search equals a plain per-sentence reference, decodes only the sources still searching,
and stops after the last live hypothesis (tiny widths)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.beam_search import beam_search, chunk_layout
from models.seq2seq_translator import Seq2SeqTranslator

START, END, PAD = 2, 3, 0
NEG = np.float32(-1e9)


def _model(target_vocabulary_size=11, seed=3, **overrides):
    keras.utils.set_random_seed(seed)
    kwargs = dict(
        source_vocabulary_size=13,
        target_vocabulary_size=target_vocabulary_size,
        embedding_dim=6,
        rnn={"cell": "gru", "units": 5},
        decoder_units=8,
        attention="luong",
        attention_units=4,
    )
    kwargs.update(overrides)
    return Seq2SeqTranslator(**kwargs)


def _sources(count=12, length=6, seed=5):
    rng = np.random.default_rng(seed)
    source = rng.integers(1, 13, size=(count, length)).astype(np.int32)
    for row in range(0, count, 3):  # some padded sources
        source[row, length // 2 + row % 2 :] = 0
    return source


def _log_softmax(logits):
    logits = np.asarray(logits, np.float32)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def reference_beam(model, source, *, beam_size, max_length, length_penalty, banned_ids):
    """One sentence at a time, the beam's K hypotheses as K rows with their own copy of the
    source's encoding, every (hypothesis, token) candidate scored and sorted: the rule the
    beam search documents, written the plain way."""
    k = beam_size
    out = {"tokens": [], "scores": [], "lengths": [], "beam_tokens": [], "beam_scores": []}
    for row in source:
        states, constants = model.encode(row[None])
        states = [np.repeat(np.asarray(s), k, 0) for s in states]
        constants = tuple(np.repeat(np.asarray(c), k, 0) for c in constants)
        scores = np.array([0.0] + [NEG] * (k - 1), np.float32)
        finished = np.zeros(k, bool)
        lengths = np.zeros(k, np.int32)
        prefixes = [[] for _ in range(k)]
        last = np.full(k, START, np.int32)
        for _ in range(max_length):
            if finished.all():
                break
            logits, states = model.decode_step(last, states, constants)
            logp = _log_softmax(logits)
            logp[:, list(banned_ids)] = NEG
            logp[finished] = NEG  # a finished hypothesis only grows padding, at no cost
            logp[finished, PAD] = 0.0
            vocab = logp.shape[1]
            total = (scores[:, None] + logp).astype(np.float32).ravel()
            order = np.argsort(-total, kind="stable")[:k]  # ties: lower (hypothesis, id)
            parent, token = order // vocab, (order % vocab).astype(np.int32)
            states = [np.asarray(s)[parent] for s in states]
            prefixes = [prefixes[p] + [t] for p, t in zip(parent, token, strict=True)]
            lengths = lengths[parent] + ~finished[parent]
            finished = finished[parent] | (token == END)
            scores, last = total[order], token
        tokens = np.full((k, max_length), PAD, np.int32)
        for j, prefix in enumerate(prefixes):
            tokens[j, : len(prefix)] = prefix
        normalised = scores / ((5.0 + lengths) / 6.0) ** length_penalty
        best = int(np.argmax(normalised))
        out["tokens"].append(tokens[best])
        out["scores"].append(scores[best])
        out["lengths"].append(lengths[best])
        out["beam_tokens"].append(tokens)
        out["beam_scores"].append(scores)
    return {key: np.stack(value) for key, value in out.items()}


def _search(model, source, compact, graph, **kwargs):
    def run(source):
        states, constants = model.encode(source)
        return beam_search(
            model.decode_step, states, constants, start_id=START, end_id=END, **kwargs
        )

    if graph:  # batch unknown while tracing, as in the exported signatures
        spec = tf.TensorSpec([None, None], tf.int32)
        run = tf.function(run, input_signature=[spec], autograph=False)
    return {key: np.asarray(value) for key, value in run(tf.constant(source)).items()}


CASES = {
    # name: (model overrides, search settings)
    "gru": ({}, dict(beam_size=4, max_length=7, length_penalty=0.6, banned_ids=(0, 1, 2))),
    "no_penalty": ({}, dict(beam_size=3, max_length=9, length_penalty=0.0, banned_ids=(0, 1))),
    # More hypotheses than allowed ids: filler hypotheses at -1e9, ties everywhere.
    "crowded": (
        {"target_vocabulary_size": 6},
        dict(beam_size=5, max_length=5, length_penalty=0.5, banned_ids=(0, 1, 2)),
    ),
    "lstm_bahdanau": (
        {"rnn": {"cell": "lstm", "units": 5, "num_layers": 2}, "attention": "bahdanau"},
        dict(beam_size=4, max_length=6, length_penalty=1.0, banned_ids=(0, 1, 2)),
    ),
    # Large enough to be cut into chunks (300 = 20 × 15), banned ids in several chunks.
    "chunked": (
        {"target_vocabulary_size": 300},
        dict(beam_size=4, max_length=8, length_penalty=0.6, banned_ids=(0, 1, 2, 40, 41, 299)),
    ),
    # A prime vocabulary: the last chunk is padded.
    "padded_chunks": (
        {"target_vocabulary_size": 151, "seed": 7},
        dict(beam_size=3, max_length=8, length_penalty=0.6, banned_ids=(0, 1, 2)),
    ),
    "one_step": ({}, dict(beam_size=4, max_length=1, length_penalty=0.6, banned_ids=(0, 1, 2))),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("compact", [True, False])
def test_beam_search_equals_the_per_sentence_reference(case, compact):
    overrides, settings = CASES[case]
    model = _model(**overrides)
    source = _sources()
    expected = reference_beam(model, source, **settings)
    for graph in (False, True):
        out = _search(model, source, compact, graph, **settings)
        where = f"{case}, graph={graph}"
        np.testing.assert_array_equal(out["beam_tokens"], expected["beam_tokens"], err_msg=where)
        np.testing.assert_array_equal(out["tokens"], expected["tokens"], err_msg=where)
        np.testing.assert_array_equal(out["lengths"], expected["lengths"], err_msg=where)
        np.testing.assert_allclose(out["scores"], expected["scores"], atol=1e-5, err_msg=where)
        np.testing.assert_allclose(
            out["beam_scores"], expected["beam_scores"], rtol=1e-6, atol=1e-5, err_msg=where
        )


def test_no_steps_after_the_last_hypothesis_and_finished_sources_leave_the_batch():
    """A toy decoder whose source s ends every hypothesis after exactly ``ends[s]`` tokens:
    the search calls it once per step while some source is searching, with K rows for each
    source still searching (compact) or for every source (not compact)."""
    ends = np.array([2, 1, 4, 1], np.float32)
    k = 3
    table = np.full(6, 1e-9, np.float32)
    going, ending = table.copy(), table.copy()
    going[[4, 5]] = [0.6, 0.4]  # before its end, a source continues with a or b
    ending[END] = 1.0  # then every hypothesis ends

    def run(compact):
        calls = []

        def step(tokens, state, constants):
            rows = int(tokens.shape[0])
            group = rows // int(constants.shape[0])
            end_at = tf.repeat(constants, group, axis=0)  # one row per source → its rows
            calls.append(rows)
            probs = tf.where(state >= end_at, ending, going)
            return tf.math.log(probs), state + 1.0

        state = tf.zeros((len(ends), 1))
        out = beam_search(
            step,
            state,
            tf.constant(ends[:, None]),
            beam_size=k,
            start_id=START,
            end_id=END,
            max_length=10,
            banned_ids=(0, 1, 2),
            compact=compact,
        )
        return calls, out

    calls, out = run(compact=True)
    searching = [int((ends >= step).sum()) for step in range(1, int(ends.max()) + 1)]
    assert calls == [len(ends)] + [k * n for n in searching]  # first step: one row per source
    assert out["lengths"].numpy().tolist() == (ends + 1).astype(int).tolist()
    assert out["tokens"].numpy()[1].tolist() == [4, END] + [PAD] * 8
    masked_calls, masked = run(compact=False)
    assert masked_calls == [len(ends)] + [k * len(ends)] * int(ends.max())
    for key in out:
        np.testing.assert_array_equal(masked[key], out[key])


def test_grouped_constants_give_the_same_step_as_repeated_ones():
    """``decode_step`` with one constants row per source for its K rows equals the step with
    the constants repeated K times."""
    model = _model(attention="bahdanau")
    states, constants = model.encode(_sources(count=3))
    k = 4
    states = [np.repeat(np.asarray(s), k, 0) for s in states]
    repeated = tuple(np.repeat(np.asarray(c), k, 0) for c in constants)
    tokens = np.arange(3 * k, dtype=np.int32) % 11
    grouped = model.decode_step(tokens, states, constants, return_attention=True)
    plain = model.decode_step(tokens, states, repeated, return_attention=True)
    for a, b in zip(keras.tree.flatten(grouped), keras.tree.flatten(plain), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_chunk_layout_divides_the_vocabulary_when_it_can():
    assert chunk_layout(None) == (None, 1)
    assert chunk_layout(11) == (11, 1)  # small: one chunk
    assert chunk_layout(3000) == (50, 60)
    assert chunk_layout(300) == (15, 20)
    width, chunks = chunk_layout(151)  # prime: padded
    assert width * chunks >= 151 and width * (chunks - 1) < 151


def test_max_length_zero_returns_empty_outputs():
    model = _model()
    out = _search(model, _sources(count=2), True, False, beam_size=3, max_length=0)
    assert out["tokens"].shape == (2, 0) and out["beam_tokens"].shape == (2, 3, 0)
    assert out["lengths"].tolist() == [0, 0] and out["scores"].tolist() == [0.0, 0.0]
