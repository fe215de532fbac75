"""Tagger model layers: char features, softmax tag output, the tagger; masks and round trips."""

import keras
import numpy as np
import pytest
from keras import ops
from model_helpers import flat_config, stack_settings

from models.char_features import CharFeatures
from models.sequence_tagger import FEATURE_INPUTS, SequenceTagger
from models.tag_softmax import TagSoftmax


def _chars(rng, batch=2, words=4, chars=6, lengths=((4, 3, 2, 1), (2, 1, 0, 0))):
    """Char ids with word ``w`` of sentence ``b`` holding ``lengths[b][w]`` chars."""
    ids = np.zeros((batch, words, chars), dtype="int32")
    for b, row in enumerate(lengths):
        for w, n in enumerate(row):
            ids[b, w, :n] = rng.integers(1, 12, size=n)
    return ids


@pytest.mark.parametrize("encoder", ["cnn", "lstm"])
def test_char_features_shape_mask_and_padding_invariance(encoder):
    rng = np.random.default_rng(0)
    layer = CharFeatures(12, embedding_dim=4, encoder=encoder, units=5, name="chars")
    ids = _chars(rng)
    out = ops.convert_to_numpy(layer(ids))
    width = 5 if encoder == "cnn" else 10
    assert out.shape == (2, 4, width)
    # Padding words are zero vectors and masked.
    assert np.all(out[1, 2:] == 0) and np.any(out[1, :2] != 0)
    mask = ops.convert_to_numpy(layer.compute_mask(ids))
    np.testing.assert_array_equal(mask, [[True] * 4, [True, True, False, False]])
    # More padding (chars and words) changes nothing for the real words.
    padded = np.pad(ids, ((0, 0), (0, 3), (0, 5)))
    np.testing.assert_allclose(ops.convert_to_numpy(layer(padded))[:, :4], out, atol=1e-6)


def test_char_features_config_round_trip():
    layer = CharFeatures(12, embedding_dim=4, encoder="lstm", units=3, kernel_size=5, dropout=0.1)
    clone = CharFeatures.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config() and clone.output_dim == 6
    with pytest.raises(ValueError, match="char encoder must be one of cnn, lstm"):
        CharFeatures(12, encoder="gru")


def test_char_features_trace_with_unknown_words_and_chars():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("graph-mode check is TensorFlow-backend only")
    layer = CharFeatures(12, embedding_dim=4, units=5)
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None], tf.int32)])
    ids = _chars(np.random.default_rng(1))
    # The (batch, words) axes come back right in graph mode (TimeDistributed's bug would not).
    assert tuple(fn(ids).shape) == (2, 4, 5)
    np.testing.assert_allclose(fn(ids).numpy(), ops.convert_to_numpy(layer(ids)), atol=1e-6)


def test_tag_softmax_loss_and_decoding_by_hand():
    scores = np.array([[[2.0, 0.0, 1.0], [0.0, 3.0, 0.0], [9.0, 9.5, 0.0]]], dtype="float32")
    tags = np.array([[2, 1, 0]], dtype="int32")
    mask = np.array([[True, True, False]])
    layer = TagSoftmax(3)
    decoded = ops.convert_to_numpy(layer([scores, tags], mask=[mask, None]))
    np.testing.assert_array_equal(decoded, [[0, 1, 0]])  # padded step decodes to 0

    def nll(row, tag):
        return float(np.log(np.exp(row).sum()) - row[tag])

    expected = (nll(scores[0, 0], 2) + nll(scores[0, 1], 1)) / 2  # padding not counted
    np.testing.assert_allclose(ops.convert_to_numpy(layer.losses[0]), expected, rtol=1e-6)
    assert TagSoftmax.from_config(layer.get_config()).num_tags == 3


def _tagger(output="crf", char_encoder="cnn", casing=4, seed=0):
    keras.utils.set_random_seed(seed)
    return SequenceTagger(
        word_vocabulary_size=30,
        char_vocabulary_size=12,
        casing_vocabulary_size=8,
        num_tags=5,
        word_embedding_dim=8,
        casing_embedding_dim=casing,
        char_encoder=char_encoder,
        char_embedding_dim=4,
        char_units=6,
        rnn={"units": 8},
        output=output,
        feature_dropout=0.0,
        output_dropout=0.0,
    )


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    chars = _chars(rng)
    words = np.where(chars[..., 0] > 0, rng.integers(1, 30, size=chars.shape[:2]), 0)
    casing = np.where(words > 0, rng.integers(1, 8, size=words.shape), 0)
    tags = np.where(words > 0, rng.integers(0, 5, size=words.shape), 0)
    return {
        "word_ids": words.astype("int32"),
        "casing_ids": casing.astype("int32"),
        "char_ids": chars,
        "tags": tags.astype("int32"),
    }


@pytest.mark.parametrize(
    ("output", "char_encoder", "casing"),
    [("crf", "cnn", 4), ("softmax", "lstm", 0), ("crf", "none", 0)],
)
def test_tagger_masks_padding_and_shares_weights_with_tagging_model(output, char_encoder, casing):
    model = _tagger(output, char_encoder, casing)
    x = _batch()
    decoded = ops.convert_to_numpy(model(x))
    assert decoded.shape == (2, 4) and decoded.dtype == np.int32
    assert np.all(decoded[x["word_ids"] == 0] == 0)
    assert len(model.losses) == 1 and np.isfinite(ops.convert_to_numpy(model.losses[0]))
    tagger = model.tagging_model()
    assert tagger is model.tagging_model()  # built once
    features = {k: x[k] for k in FEATURE_INPUTS}
    np.testing.assert_array_equal(ops.convert_to_numpy(tagger(features)), decoded)
    assert {id(w) for w in tagger.weights} <= {id(w) for w in model.weights}
    # Extra padding words (and chars) do not change the real words' tags.
    padded = {
        k: np.pad(v, ((0, 0), (0, 3)) + ((0, 2),) * (v.ndim - 2)) for k, v in features.items()
    }
    np.testing.assert_array_equal(ops.convert_to_numpy(tagger(padded))[:, :4], decoded)


def test_tagger_keras_round_trip(tmp_path):
    model = _tagger("crf", "lstm")
    x = _batch(3)
    rng = np.random.default_rng(4)  # weights off their init, transitions included
    model.set_weights([w + rng.normal(0, 0.3, size=w.shape) for w in model.get_weights()])
    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, SequenceTagger) and loaded.get_config() == model.get_config()
    features = {k: x[k] for k in FEATURE_INPUTS}
    np.testing.assert_array_equal(
        ops.convert_to_numpy(loaded.tagging_model()(features)),
        ops.convert_to_numpy(model.tagging_model()(features)),
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded.get_layer("crf").transitions),
        ops.convert_to_numpy(model.get_layer("crf").transitions),
    )


@pytest.mark.parametrize(("casing", "char_encoder"), [(4, "none"), (0, "cnn"), (0, "none")])
def test_each_feature_reaches_the_scores_only_when_enabled(casing, char_encoder):
    model = _tagger("softmax", char_encoder, casing)
    rng = np.random.default_rng(2)
    model.set_weights([w + rng.normal(0, 0.5, size=w.shape) for w in model.get_weights()])
    scores = keras.Model(model.inputs, model.get_layer("tag_scores").output)
    x = _batch(5)
    base = ops.convert_to_numpy(scores(x))
    changed_casing = dict(x, casing_ids=np.where(x["casing_ids"] > 0, 8 - x["casing_ids"], 0))
    changed_chars = dict(x, char_ids=np.where(x["char_ids"] > 0, 12 - x["char_ids"], 0))
    for changed, used in ((changed_casing, casing > 0), (changed_chars, char_encoder != "none")):
        differs = not np.allclose(ops.convert_to_numpy(scores(changed)), base, atol=1e-6)
        assert differs == used


def test_tagger_rejects_unknown_options():
    with pytest.raises(ValueError, match="output must be 'crf' or 'softmax'"):
        _tagger(output="mlp")
    with pytest.raises(ValueError, match="char_encoder must be cnn, lstm or none"):
        _tagger(char_encoder="gru")


def test_tagger_config_holds_the_stack_as_one_entry():
    config = _tagger().get_config()
    assert config["rnn"] == stack_settings(units=8, bidirectional=True)
    assert not {"cell", "units", "num_layers"} & set(config)
    with pytest.raises(ValueError, match=r"rnn: unknown stack setting\(s\) \['layers'\]"):
        SequenceTagger(30, 12, 8, 5, rnn={"layers": 2})


def test_checkpoint_config_of_the_old_ner_tagger_still_loads():
    # Saved before the tagger served POS: class NERTagger, the stack's settings flat.
    model = _tagger("crf", "lstm")
    flat = flat_config(model.get_config())
    loaded = keras.saving.deserialize_keras_object(
        {
            "module": "models.ner_tagger",
            "class_name": "NERTagger",
            "registered_name": "rnn_pipelines>NERTagger",
            "config": flat,
        }
    )
    assert isinstance(loaded, SequenceTagger) and loaded.get_config() == model.get_config()
    loaded.set_weights(model.get_weights())  # the same layers, in the same order
    features = {k: v for k, v in _batch(1).items() if k in FEATURE_INPUTS}
    np.testing.assert_array_equal(
        ops.convert_to_numpy(loaded.tagging_model()(features)),
        ops.convert_to_numpy(model.tagging_model()(features)),
    )
