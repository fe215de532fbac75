"""Encoder-decoder model, attention, sequence loss, and greedy/beam search (tiny widths)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_helpers import flat_config

from models.beam_search import beam_search, greedy_search, length_penalty_factor
from models.encoder_decoder_attention import EncoderDecoderAttention
from models.rnn_stack import STACK_KEYS
from models.seq2seq_translator import ENCODER_DEFAULTS, Seq2SeqTranslator
from models.sequence_crossentropy import SequenceCrossentropy

START, END = 2, 3
BANNED = (0, 1, 2)  # padding, OOV, start


def _model(rnn=None, **overrides):
    keras.utils.set_random_seed(3)
    kwargs = dict(
        source_vocabulary_size=13,
        target_vocabulary_size=11,
        embedding_dim=6,
        rnn={"cell": "gru", "units": 5, **(rnn or {})},
        decoder_units=8,
        attention="luong",
        attention_units=4,
    )
    kwargs.update(overrides)
    return Seq2SeqTranslator(**kwargs)


SOURCE = np.array([[4, 5, 6, 7, 0, 0], [8, 9, 0, 0, 0, 0], [10, 11, 12, 4, 5, 6]], np.int32)
TARGET_IN = np.array([[START, 4, 5, 0], [START, 6, 0, 0], [START, 7, 8, 9]], np.int32)


# --- attention ---


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_luong_attention_matches_hand_computation_and_masks_padding():
    layer = EncoderDecoderAttention("luong", units=3)
    rng = np.random.default_rng(0)
    query = rng.normal(size=(2, 4, 3)).astype("float32")
    memory = rng.normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer.build((query.shape, memory.shape))
    context, weights = layer.attend(query, layer.project_memory(memory), memory, mask)
    kernel = layer.memory_projection.kernel.numpy()  # (6, 3)
    scores = np.einsum("btu,bsu->bts", query, memory @ kernel) / np.sqrt(3)
    scores = np.where(mask[:, None, :], scores, -np.inf)
    expected = _softmax(scores)
    np.testing.assert_allclose(weights, expected, atol=1e-5)
    np.testing.assert_allclose(context, np.einsum("bts,bsd->btd", expected, memory), atol=1e-5)
    assert np.all(np.asarray(weights)[0, :, 3:] == 0.0)


def test_bahdanau_attention_shapes_masks_and_config():
    layer = EncoderDecoderAttention("bahdanau", units=4)
    query = np.ones((2, 3, 7), "float32")
    memory = np.random.default_rng(1).normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer.build((query.shape, memory.shape))
    context, weights = layer.attend(query, layer.project_memory(memory), memory, mask)
    assert context.shape == (2, 3, 6) and weights.shape == (2, 3, 5)
    np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, atol=1e-6)
    assert np.all(np.asarray(weights)[0, :, 2:] == 0.0)
    clone = EncoderDecoderAttention.from_config(layer.get_config())
    assert clone.score == "bahdanau" and clone.units == 4


def test_attention_rejects_bad_score_and_width():
    with pytest.raises(ValueError, match="attention score must be one of"):
        EncoderDecoderAttention("cosine")
    with pytest.raises(ValueError, match="query width 5 must equal units=3"):
        EncoderDecoderAttention("luong", units=3).build(((2, 4, 5), (2, 6, 8)))


# --- model ---


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"attention": "bahdanau"},
        {"rnn": {"cell": "lstm", "num_layers": 2}},
        {"rnn": {"bidirectional": False}},
    ],
)
def test_teacher_forced_graph_equals_step_by_step_decoding(overrides):
    """The functional (training) graph and the one-step decoder are the same function."""
    model = _model(**overrides)
    logits = model([SOURCE, TARGET_IN]).numpy()
    assert logits.shape == (3, 4, 11)
    states, constants = model.encode(SOURCE)
    for t in range(TARGET_IN.shape[1]):
        step_logits, states = model.decode_step(TARGET_IN[:, t], states, constants)
        np.testing.assert_allclose(step_logits, logits[:, t], atol=1e-5, err_msg=f"step {t}")


def test_source_padding_does_not_change_outputs():
    model = _model()
    padded = np.pad(SOURCE, [(0, 0), (0, 4)])
    np.testing.assert_allclose(model([padded, TARGET_IN]), model([SOURCE, TARGET_IN]), atol=1e-5)
    _, weights = model.teacher_forced(padded, TARGET_IN)
    assert np.all(np.asarray(weights)[1, :, 2:] == 0.0)


def test_model_keras_round_trip(tmp_path):
    model = _model(
        rnn={"cell": "ln_gru"}, attention="bahdanau", embedding_dropout=0.1, attentional_units=5
    )
    path = tmp_path / "translator.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Seq2SeqTranslator)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded([SOURCE, TARGET_IN]), model([SOURCE, TARGET_IN]), atol=1e-6)


def test_config_has_one_rnn_entry_and_an_old_flat_config_still_builds():
    model = _model(rnn={"cell": "lstm", "num_layers": 2, "residual": True})
    config = model.get_config()
    expected = {"cell": "lstm", "units": 5, "num_layers": 2, "residual": True}
    assert config["rnn"] == {**ENCODER_DEFAULTS, **expected}
    assert not set(STACK_KEYS) & set(config)
    # Checkpoints saved before the stack became one entry had its settings at the top level.
    flat = flat_config(config)
    old = Seq2SeqTranslator.from_config(flat)
    assert old.get_config() == config
    old.set_weights(model.get_weights())
    np.testing.assert_allclose(old([SOURCE, TARGET_IN]), model([SOURCE, TARGET_IN]), atol=1e-6)
    with pytest.raises(ValueError, match="unknown stack setting"):
        _model(rnn={"layers": 2})


# --- loss ---


def test_sequence_crossentropy_is_mean_over_real_tokens_with_label_smoothing():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 3, 5)).astype("float32")
    targets = np.array([[3, 4, 0], [2, 0, 0]], np.int32)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    real = [(0, 0), (0, 1), (1, 0)]
    nll = np.mean([-logp[b, t, targets[b, t]] for b, t in real])
    uniform = np.mean([-logp[b, t].mean() for b, t in real])
    assert float(SequenceCrossentropy()(targets, logits)) == pytest.approx(nll, rel=1e-5)
    smoothed = float(SequenceCrossentropy(label_smoothing=0.2)(targets, logits))
    assert smoothed == pytest.approx(0.8 * nll + 0.2 * uniform, rel=1e-5)
    clone = SequenceCrossentropy.from_config(SequenceCrossentropy(0.2).get_config())
    assert clone.label_smoothing == 0.2


# --- search: a hand-checked toy "model" ---

# Next-token probabilities given the previous token; ids: 0 pad, 1 OOV, 2 start, 3 end, 4 a, 5 b.
_TABLE = np.full((6, 6), 1e-9)
_TABLE[START, [4, 5]] = [0.55, 0.45]
_TABLE[4, [4, 5, END]] = [0.4, 0.3, 0.3]
_TABLE[5, [END, 4, 5]] = [0.9, 0.05, 0.05]
_TABLE[END, 0] = 1.0
_TABLE /= _TABLE.sum(1, keepdims=True)


def _toy_step(tokens, state, constants):
    return tf.math.log(tf.gather(tf.constant(_TABLE, tf.float32), tokens)), state


def _toy_state(batch=1):
    return [tf.zeros((batch, 1))], tf.zeros((batch, 1))


def test_greedy_on_toy_table_follows_the_locally_best_token():
    state, constants = _toy_state()
    out = greedy_search(
        _toy_step, state, constants, start_id=START, end_id=END, max_length=3, banned_ids=BANNED
    )
    # start → a (.55) → a (.4) → a (.4): never ends within 3 tokens.
    assert out["tokens"].numpy().tolist() == [[4, 4, 4]]
    assert float(out["scores"][0]) == pytest.approx(math.log(0.55 * 0.4 * 0.4), abs=1e-5)
    assert out["lengths"].numpy().tolist() == [3]


def test_beam_search_on_toy_table_finds_the_better_sequence():
    state, constants = _toy_state()
    out = beam_search(
        _toy_step,
        state,
        constants,
        start_id=START,
        end_id=END,
        max_length=3,
        beam_size=2,
        banned_ids=BANNED,
    )
    # Step 2 keeps "b end" (.45 · .9 = .405) and "a a" (.22); step 3 ends with
    # "b end" (.405, finished) ahead of "a a a" (.088).
    assert out["tokens"].numpy().tolist() == [[5, END, 0]]
    assert float(out["scores"][0]) == pytest.approx(math.log(0.405), abs=1e-5)
    assert out["beam_tokens"].numpy().tolist() == [[[5, END, 0], [4, 4, 4]]]
    np.testing.assert_allclose(
        out["beam_scores"].numpy(), [[math.log(0.405), math.log(0.088)]], atol=1e-5
    )
    assert out["beam_lengths"].numpy().tolist() == [[2, 3]]


def test_length_penalty_factor_and_its_effect_on_the_choice():
    assert float(length_penalty_factor(np.array(7), 0.0)) == 1.0
    assert float(length_penalty_factor(np.array(7), 1.0)) == pytest.approx(2.0)
    # start → end (.2) or a (.8); a → end (.2) or OOV (.8, banned, not renormalised).
    # Raw: "end" (log .2 = -1.61) beats "a end" (log .16 = -1.83). With alpha = 1 the
    # scores are divided by (5 + 1) / 6 = 1 and (5 + 2) / 6: -1.61 vs -1.57, "a end" wins.
    table = np.full((6, 6), 1e-9)
    table[START, [END, 4]] = [0.2, 0.8]
    table[4, [END, 1]] = [0.2, 0.8]
    table[END, 0] = 1.0

    def step(tokens, state, constants):
        return tf.math.log(tf.gather(tf.constant(table, tf.float32), tokens)), state

    state, constants = _toy_state()
    common = dict(start_id=START, end_id=END, max_length=4, beam_size=2, banned_ids=BANNED)
    raw = beam_search(step, state, constants, length_penalty=0.0, **common)
    normalised = beam_search(step, state, constants, length_penalty=1.0, **common)
    assert raw["tokens"].numpy().tolist() == [[END, 0, 0, 0]]
    assert normalised["tokens"].numpy().tolist() == [[4, END, 0, 0]]
    assert float(normalised["scores"][0]) == pytest.approx(math.log(0.16), abs=1e-5)


# --- search: properties on a model ---


def _generate(model, source, **kwargs):
    return model.generate(
        source, start_id=START, end_id=END, max_length=7, banned_ids=BANNED, **kwargs
    )


def test_beam_size_one_equals_greedy():
    model = _model(rnn={"cell": "lstm"})
    greedy = _generate(model, SOURCE)
    beam = _generate(model, SOURCE, beam_size=1)
    np.testing.assert_array_equal(beam["tokens"], greedy["tokens"])
    np.testing.assert_allclose(beam["scores"], greedy["scores"], atol=1e-5)


def test_search_scores_are_model_log_probabilities_and_beam_beats_greedy():
    model = _model(target_vocabulary_size=9)
    source = np.random.default_rng(5).integers(1, 13, size=(16, 6)).astype(np.int32)
    greedy = _generate(model, source)
    beam = _generate(model, source, beam_size=4, length_penalty=0.0)
    for out in (greedy, beam):
        forced = model.sequence_log_probability(source, out["tokens"], start_id=START)
        np.testing.assert_allclose(out["scores"], forced, atol=1e-4)
    assert np.all(beam["scores"].numpy() >= greedy["scores"].numpy() - 1e-5)
    tokens = beam["tokens"].numpy()
    assert not np.isin(tokens, BANNED[1:]).any()
    # After the end token there is only padding.
    for row in tokens:
        ends = np.flatnonzero(row == END)
        if len(ends):
            assert np.all(row[ends[0] + 1 :] == 0)
