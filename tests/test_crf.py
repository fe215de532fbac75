"""Tests for the linear-chain CRF: exactness against brute force, masking, tracing, saving, fit."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

# The repo is not installed as a package; make ``models`` importable from any rootdir setup.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.crf import CRF

NUM_TAGS = 3


# ----------------------------------------------------------------------------- brute force


def _path_score(e: np.ndarray, path: tuple[int, ...], trans, start, end) -> float:
    """Unnormalised score of one tag path over the valid emissions ``e`` (L, K)."""
    s = start[path[0]] + end[path[-1]] + sum(e[t, y] for t, y in enumerate(path))
    s += sum(trans[a, b] for a, b in itertools.pairwise(path))
    return float(s)


def _all_scores(e: np.ndarray, length: int, trans, start, end):
    """All paths of the given length and their scores, in float64."""
    e = e[:length].astype(np.float64)
    paths = list(itertools.product(range(e.shape[1]), repeat=length))
    scores = np.array([_path_score(e, p, trans, start, end) for p in paths])
    return paths, scores


def _logsumexp(x: np.ndarray) -> float:
    m = np.max(x)
    return float(m + np.log(np.sum(np.exp(x - m))))


def _params(crf: CRF):
    return tuple(
        ops.convert_to_numpy(w).astype(np.float64)
        for w in (crf.transitions, crf.start_transitions, crf.end_transitions)
    )


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def crf() -> CRF:
    """A built CRF whose weights are large enough that transitions really matter."""
    layer = CRF(NUM_TAGS)
    layer.build((None, None, NUM_TAGS))
    rng = np.random.default_rng(1)
    layer.transitions.assign(rng.normal(size=(NUM_TAGS, NUM_TAGS)).astype("float32"))
    layer.start_transitions.assign(rng.normal(size=(NUM_TAGS,)).astype("float32"))
    layer.end_transitions.assign(rng.normal(size=(NUM_TAGS,)).astype("float32"))
    return layer


@pytest.fixture
def batch():
    """Batch 3, time 4, lengths full / 1 / random in between; padding on the right."""
    rng = np.random.default_rng(0)
    lengths = np.array([4, 1, int(rng.integers(2, 4))])
    emissions = rng.normal(size=(3, 4, NUM_TAGS)).astype("float32")
    mask = np.arange(4)[None, :] < lengths[:, None]
    tags = rng.integers(0, NUM_TAGS, size=(3, 4)).astype("int32")
    return emissions, tags, mask, lengths


# ----------------------------------------------------------------------------- exactness


def test_log_partition_matches_brute_force(crf, batch):
    emissions, _, mask, lengths = batch
    log_z = ops.convert_to_numpy(crf.log_partition(emissions, mask))
    trans, start, end = _params(crf)
    expected = [
        _logsumexp(_all_scores(emissions[b], n, trans, start, end)[1])
        for b, n in enumerate(lengths)
    ]
    np.testing.assert_allclose(log_z, expected, rtol=1e-5, atol=1e-5)


def test_log_likelihood_matches_brute_force(crf, batch):
    emissions, tags, mask, lengths = batch
    ll = ops.convert_to_numpy(crf.log_likelihood(emissions, tags, mask))
    trans, start, end = _params(crf)
    for b, n in enumerate(lengths):
        _, scores = _all_scores(emissions[b], n, trans, start, end)
        gold = _path_score(emissions[b].astype(np.float64), tuple(tags[b, :n]), trans, start, end)
        np.testing.assert_allclose(ll[b], gold - _logsumexp(scores), rtol=1e-5, atol=1e-5)
    # nll is the batch mean of -log_likelihood.
    nll = float(ops.convert_to_numpy(crf.nll(emissions, tags, mask)))
    np.testing.assert_allclose(nll, -ll.mean(), rtol=1e-6)
    # Empty rows (a pinned training batch's padding) do not count in that mean.
    empty = np.zeros_like(mask[:2])
    padded = [np.concatenate([a, np.zeros_like(a[:2])]) for a in (emissions, tags)]
    nll_padded = crf.nll(padded[0], padded[1], np.concatenate([mask, empty]))
    np.testing.assert_allclose(float(ops.convert_to_numpy(nll_padded)), -ll.mean(), rtol=1e-6)


def test_viterbi_matches_brute_force(crf, batch):
    emissions, _, mask, lengths = batch
    path, score = (ops.convert_to_numpy(x) for x in crf.viterbi_decode(emissions, mask))
    assert path.dtype == np.int32 and path.shape == (3, 4)
    trans, start, end = _params(crf)
    for b, n in enumerate(lengths):
        paths, scores = _all_scores(emissions[b], n, trans, start, end)
        assert tuple(path[b, :n]) == paths[int(np.argmax(scores))]
        assert np.all(path[b, n:] == 0)
        np.testing.assert_allclose(score[b], scores.max(), rtol=1e-5, atol=1e-5)


def test_likelihood_sums_to_one_over_all_paths(crf, batch):
    emissions, _, mask, lengths = batch
    for b, n in enumerate(lengths):
        paths = np.array(list(itertools.product(range(NUM_TAGS), repeat=int(n))), dtype="int32")
        # Every path of sequence b, padded with a tag that must be ignored.
        tags = np.zeros((len(paths), 4), dtype="int32")
        tags[:, :n] = paths
        e = np.repeat(emissions[b : b + 1], len(paths), axis=0)
        m = np.repeat(mask[b : b + 1], len(paths), axis=0)
        ll = ops.convert_to_numpy(crf.log_likelihood(e, tags, m)).astype(np.float64)
        np.testing.assert_allclose(np.exp(ll).sum(), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------- masking


def test_padding_does_not_change_results(crf, batch):
    emissions, tags, mask, _ = batch
    rng = np.random.default_rng(7)
    pad = 3
    # Garbage emissions and out-of-range tags in the padding must have no effect.
    m_pad = np.concatenate([mask, np.zeros((3, pad), bool)], axis=1)
    e_pad = np.pad(emissions, ((0, 0), (0, pad), (0, 0)))
    e_pad[~m_pad] = 1e3 * rng.normal(size=(int((~m_pad).sum()), NUM_TAGS))
    t_pad = np.where(m_pad, np.pad(tags, ((0, 0), (0, pad))), -1).astype("int32")

    def results(e, t, m):
        path, score = crf.viterbi_decode(e, m)
        out = crf.log_partition(e, m), crf.log_likelihood(e, t, m), score, path
        return [ops.convert_to_numpy(x) for x in out]

    base, padded = results(emissions, tags, mask), results(e_pad, t_pad, m_pad)
    for a, b in zip(base[:3], padded[:3], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(base[3][mask], padded[3][:, :4][mask])
    assert np.all(padded[3][~m_pad] == 0)


def test_missing_mask_means_all_valid(crf, batch):
    emissions, tags, _, _ = batch
    full = np.ones(emissions.shape[:2], bool)
    for fn, args in ((crf.log_partition, ()), (crf.log_likelihood, (tags,))):
        np.testing.assert_allclose(
            ops.convert_to_numpy(fn(emissions, *args)),
            ops.convert_to_numpy(fn(emissions, *args, mask=full)),
        )


def test_empty_sequence_contributes_nothing(crf, batch):
    emissions, tags, mask, _ = batch
    mask = mask.copy()
    mask[2] = False
    ll = ops.convert_to_numpy(crf.log_likelihood(emissions, tags, mask))
    path, score = (ops.convert_to_numpy(x) for x in crf.viterbi_decode(emissions, mask))
    assert ll[2] == 0.0 and score[2] == 0.0 and np.all(path[2] == 0)
    assert np.all(np.isfinite(ll))


def test_keras_mask_is_used_by_call(crf):
    tokens = np.array([[3, 1, 2, 0, 0], [4, 4, 4, 4, 4], [2, 0, 0, 0, 0]], dtype="int32")
    embed = keras.layers.Embedding(5, NUM_TAGS, mask_zero=True)
    emissions = embed(tokens)
    decoded = ops.convert_to_numpy(crf(emissions))
    expected, _ = crf.viterbi_decode(emissions, tokens != 0)
    np.testing.assert_array_equal(decoded, ops.convert_to_numpy(expected))
    assert decoded.dtype == np.int32 and np.all(decoded[tokens == 0] == 0)


def test_wrong_emission_width_raises():
    with pytest.raises(ValueError, match="last dim"):
        CRF(3).build((None, None, 4))


# ----------------------------------------------------------------------------- graph mode


def test_tf_function_with_dynamic_time(crf):
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.function check is TensorFlow-backend only")

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, NUM_TAGS], tf.float32),
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None, None], tf.bool),
        ]
    )
    def run(e, t, m):
        path, score = crf.viterbi_decode(e, m)
        return crf.log_partition(e, m), crf.log_likelihood(e, t, m), path, score

    rng = np.random.default_rng(3)
    for time in (1, 4, 6):  # one trace serves every length, including a single step
        e = rng.normal(size=(2, time, NUM_TAGS)).astype("float32")
        t = rng.integers(0, NUM_TAGS, size=(2, time)).astype("int32")
        m = np.arange(time)[None, :] < np.array([[time], [max(1, time - 2)]])
        graph = [x.numpy() for x in run(e, t, m)]
        path, score = crf.viterbi_decode(e, m)
        eager = [crf.log_partition(e, m), crf.log_likelihood(e, t, m), path, score]
        for g, x in zip(graph, eager, strict=True):
            np.testing.assert_allclose(g, ops.convert_to_numpy(x), rtol=1e-6, atol=1e-6)
    assert run.experimental_get_tracing_count() == 1


# ----------------------------------------------------------------------------- serialisation


def _tagger_models(vocab: int, num_tags: int, seed: int = 0):
    """Trainer ([tokens, gold] -> tags, adds NLL loss) and a weight-sharing tagger."""
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    gold = keras.Input((None,), dtype="int32", name="gold_tags")
    x = keras.layers.Embedding(vocab, 16, mask_zero=True)(tokens)
    emissions = keras.layers.Dense(num_tags)(x)
    crf = CRF(num_tags, name="crf")
    trainer = keras.Model([tokens, gold], crf([emissions, gold]))
    tagger = keras.Model(tokens, crf(emissions))
    return trainer, tagger, crf


def test_get_config_round_trip(crf):
    clone = CRF.from_config(crf.get_config())
    assert clone.num_tags == NUM_TAGS and clone.name == crf.name
    assert clone.get_config() == crf.get_config()
    clone.build((None, None, NUM_TAGS))
    assert [w.shape for w in clone.weights] == [w.shape for w in crf.weights]
    assert all(w.trainable for w in clone.weights)
    assert np.all(np.abs(ops.convert_to_numpy(clone.transitions)) <= 0.1)  # small init


def test_save_and_load_keras(tmp_path):
    trainer, tagger, crf = _tagger_models(vocab=7, num_tags=NUM_TAGS)
    rng = np.random.default_rng(5)
    crf.transitions.assign(rng.normal(size=(NUM_TAGS, NUM_TAGS)).astype("float32"))
    tokens = np.array([[1, 2, 3, 4, 0], [6, 5, 0, 0, 0], [3, 3, 3, 3, 3]], dtype="int32")
    gold = rng.integers(0, NUM_TAGS, size=tokens.shape).astype("int32")

    tagger.save(tmp_path / "tagger.keras")
    loaded = keras.saving.load_model(tmp_path / "tagger.keras")
    np.testing.assert_array_equal(
        loaded.predict(tokens, verbose=0), tagger.predict(tokens, verbose=0)
    )

    # The training model round-trips too, and still registers the same NLL loss.
    trainer.save(tmp_path / "trainer.keras")
    loaded_trainer = keras.saving.load_model(tmp_path / "trainer.keras")
    expected_out = ops.convert_to_numpy(trainer([tokens, gold]))
    expected_loss = ops.convert_to_numpy(trainer.losses[0])
    np.testing.assert_array_equal(
        ops.convert_to_numpy(loaded_trainer([tokens, gold])), expected_out
    )
    np.testing.assert_allclose(ops.convert_to_numpy(loaded_trainer.losses[0]), expected_loss)


# ----------------------------------------------------------------------------- training


def test_fit_learns_trivial_tagging_pattern():
    vocab, num_tags = 10, 3
    rng = np.random.default_rng(0)
    n, max_len = 256, 8
    lengths = rng.integers(1, max_len + 1, size=n)
    tokens = rng.integers(1, vocab, size=(n, max_len)).astype("int32")
    tokens[np.arange(max_len)[None, :] >= lengths[:, None]] = 0  # 0 = padding (mask_zero)
    tags = (tokens % num_tags).astype("int32")
    valid = tokens != 0

    trainer, tagger, _ = _tagger_models(vocab, num_tags)
    trainer.compile(optimizer=keras.optimizers.Adam(0.05))
    # No ``y`` and no compiled loss: the CRF's add_loss provides the objective.
    history = trainer.fit([tokens, tags], batch_size=32, epochs=25, verbose=0)  # 200 steps
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]

    pred = tagger.predict(tokens, verbose=0)
    accuracy = float(np.mean(pred[valid] == tags[valid]))
    assert accuracy > 0.9
    assert np.all(pred[~valid] == 0)


def test_training_call_adds_the_loss_and_skips_decoding():
    trainer, tagger, _ = _tagger_models(10, NUM_TAGS)
    tokens = np.array([[1, 2, 3, 0], [4, 5, 0, 0]], dtype="int32")
    gold = np.array([[0, 1, 2, 0], [2, 2, 0, 0]], dtype="int32")
    out = ops.convert_to_numpy(trainer([tokens, gold], training=True))
    np.testing.assert_array_equal(out, 0)  # nothing reads it: no Viterbi pass
    train_loss = float(ops.convert_to_numpy(trainer.losses[0]))
    decoded = ops.convert_to_numpy(trainer([tokens, gold], training=False))
    # The same NLL either way (no dropout in this model), and real tags outside training.
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(trainer.losses[0])), train_loss, rtol=1e-6
    )
    np.testing.assert_array_equal(decoded, tagger.predict(tokens, verbose=0))
