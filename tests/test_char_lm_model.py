"""CharLanguageModel: step-by-step equals the full forward pass, statefulness, round trip,
old flat configs."""

import keras
import numpy as np
import pytest

from models.char_lm import CharLanguageModel
from models.recurrent import CELL_CLASSES

IDS = np.random.default_rng(0).integers(0, 12, size=(3, 9)).astype("int32")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("cell", list(CELL_CLASSES))
def test_step_matches_full_sequence(cell):
    keras.utils.set_random_seed(1)
    rnn = {"cell": cell, "units": 6, "num_layers": 2, "residual": True}
    model = CharLanguageModel(12, embedding_dim=5, rnn=rnn)
    full = _numpy(model(IDS))
    assert full.shape == (3, 9, 12) and full.dtype == np.float32
    states = model.initial_states(3)
    assert len(states) == 2 and len(states[0]) == (2 if "lstm" in cell else 1)
    for t in range(9):
        logits, states = model.step(IDS[:, t], states)
        np.testing.assert_allclose(_numpy(logits), full[:, t], atol=1e-5)


def test_stateful_carries_state_and_resets():
    keras.utils.set_random_seed(2)
    rnn = {"units": 5, "num_layers": 2}
    stateful = CharLanguageModel(12, 4, rnn=rnn, stateful=True, batch_size=3)
    plain = CharLanguageModel(12, 4, rnn=rnn)
    plain.set_weights(stateful.get_weights())  # the carried state is not a weight
    whole = _numpy(plain(IDS))
    first, second = _numpy(stateful(IDS[:, :4])), _numpy(stateful(IDS[:, 4:]))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, atol=1e-5)
    stateful.reset_states()
    np.testing.assert_allclose(_numpy(stateful(IDS[:, 4:])), _numpy(plain(IDS[:, 4:])), atol=1e-5)
    with pytest.raises(ValueError, match="fixed batch size"):
        CharLanguageModel(12, stateful=True)


@pytest.mark.parametrize("stateful", [False, True])
def test_get_config_and_keras_round_trip(tmp_path, stateful):
    keras.utils.set_random_seed(3)
    model = CharLanguageModel(
        12,
        4,
        rnn={"cell": "gru", "units": 6, "num_layers": 2, "dropout": 0.1},
        output_dropout=0.2,
        stateful=stateful,
        batch_size=3 if stateful else None,
    )
    config = model.get_config()
    assert config["rnn"]["cell"] == "gru" and config["stateful"] is stateful
    assert not {"cell", "units", "num_layers"} & set(config)  # one "rnn" entry
    expected = _numpy(model(IDS))
    model.reset_states()
    path = tmp_path / "lm.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, CharLanguageModel) and loaded.get_config() == config
    np.testing.assert_allclose(_numpy(loaded(IDS)), expected, atol=1e-6)


def test_old_flat_config_still_builds():
    """A checkpoint saved before the stack became one ``rnn`` entry kept its settings flat."""
    keras.utils.set_random_seed(4)
    flat = {
        "name": "char_language_model",
        "trainable": True,
        "vocabulary_size": 12,
        "embedding_dim": 4,
        "cell": "gru",
        "units": 6,
        "num_layers": 2,
        "dropout": 0.1,
        "recurrent_dropout": 0.0,
        "residual": True,
        "output_dropout": 0.2,
        "stateful": False,
        "batch_size": None,
    }
    old = CharLanguageModel.from_config(flat)
    assert old.rnn["cell"] == "gru" and old.rnn["residual"] and not old.rnn["bidirectional"]
    new = CharLanguageModel(12, 4, rnn=old.get_config()["rnn"], output_dropout=0.2)
    new.set_weights(old.get_weights())  # same layers, so old weights load
    np.testing.assert_allclose(_numpy(new(IDS)), _numpy(old(IDS)), atol=1e-6)


def test_a_bidirectional_stack_is_refused():
    with pytest.raises(ValueError, match="reads left to right"):
        CharLanguageModel(12, rnn={"bidirectional": True})
