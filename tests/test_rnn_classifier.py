"""The many-to-one classifier: output shape, padding invariance and .keras round trips."""

import json
import zipfile

import keras
import numpy as np
import pytest
from model_helpers import flat_config, stack_settings

from models.rnn_classifier import RNNClassifier

IDS = np.array([[5, 9, 3, 7, 0, 0], [4, 2, 0, 0, 0, 0]], "int32")


@pytest.mark.parametrize("bigram_buckets", [0, 16])
def test_round_trip_and_padding(tmp_path, bigram_buckets):
    keras.utils.set_random_seed(0)
    model = RNNClassifier(
        vocabulary_size=12,
        embedding_dim=4,
        rnn={"units": 4},
        pooling="mean_max",
        bigram_buckets=bigram_buckets,
        bigram_dim=3,
    )
    out = keras.ops.convert_to_numpy(model(IDS))
    assert out.shape == (2, 1) and np.all((out > 0) & (out < 1))
    # Extra padding changes nothing: the RNN, the pooling and the bag are all mask-aware.
    more = np.pad(IDS, ((0, 0), (0, 3)))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(more)), out, atol=1e-6)
    assert (model.get_layer("bigram_bag") is not None) if bigram_buckets else True
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(IDS)), out, atol=1e-6)
    assert loaded.get_config()["bigram_buckets"] == bigram_buckets
    assert loaded.get_config()["rnn"] == model.get_config()["rnn"]


def test_bag_head_and_rnn_head_are_averaged_in_logit_space():
    keras.utils.set_random_seed(1)
    model = RNNClassifier(
        vocabulary_size=12, embedding_dim=4, rnn={"units": 4}, bigram_buckets=16, bigram_dim=3
    )
    output, rnn, bag = (keras.ops.convert_to_numpy(t) for t in model.with_head_logits()(IDS))
    expected = 1.0 / (1.0 + np.exp(-(rnn + bag) / 2))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(IDS)), expected, rtol=1e-5)
    np.testing.assert_allclose(output, expected, rtol=1e-5)


def test_head_logits_need_the_bag():
    model = RNNClassifier(vocabulary_size=12, embedding_dim=4, rnn={"units": 4})
    with pytest.raises(ValueError, match="no bag"):
        model.with_head_logits()


def test_config_holds_the_stack_as_one_entry():
    model = RNNClassifier(vocabulary_size=12, embedding_dim=4, rnn={"units": 4, "cell": "gru"})
    config = model.get_config()
    assert not {"cell", "units", "num_layers", "bidirectional"} & set(config)
    # Every stack setting: RNNStack's defaults, the classifier's (bidirectional), then rnn.
    assert config["rnn"] == stack_settings(cell="gru", units=4, bidirectional=True)
    with pytest.raises(ValueError, match="unknown stack setting"):
        RNNClassifier(vocabulary_size=12, rnn={"unit": 4})


def test_old_flat_config_still_builds(tmp_path):
    """Checkpoints saved before the ``rnn`` entry had the stack settings at the top level."""
    keras.utils.set_random_seed(2)
    stack = {"cell": "gru", "units": 4, "num_layers": 2, "residual": True}
    model = RNNClassifier(vocabulary_size=12, embedding_dim=4, rnn=stack, pooling="mean")
    config = model.get_config()
    flat = flat_config(config)
    assert "units" in flat and "rnn" not in flat
    rebuilt = RNNClassifier.from_config(flat)
    assert rebuilt.get_config()["rnn"] == config["rnn"]
    assert config["rnn"] == stack_settings(**stack, bidirectional=True)
    assert rebuilt.get_layer("encoder").num_layers == 2 and rebuilt.get_layer("encoder").residual

    # The same through a whole .keras file whose config is rewritten in the old form.
    new, old = tmp_path / "new.keras", tmp_path / "old.keras"
    model.save(new)
    with zipfile.ZipFile(new) as source, zipfile.ZipFile(old, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                saved = json.loads(data)
                saved["config"] = flat
                data = json.dumps(saved).encode()
            target.writestr(item, data)
    loaded = keras.saving.load_model(old)
    assert loaded.get_config()["rnn"] == rebuilt.get_config()["rnn"]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(IDS)), keras.ops.convert_to_numpy(model(IDS)), atol=1e-6
    )
