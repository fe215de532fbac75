"""Word dropout keeps padding, only acts in training, and hits about ``rate`` of tokens."""

import keras
import numpy as np
import pytest

from models.token_dropout import TokenDropout


def test_rate_padding_and_inference():
    ids = np.tile(np.array([[5, 6, 7, 8, 0, 0]], dtype="int32"), (2000, 1))
    layer = TokenDropout(0.25, seed=1)
    np.testing.assert_array_equal(layer(ids, training=False), ids)
    out = keras.ops.convert_to_numpy(layer(ids, training=True))
    np.testing.assert_array_equal(out[:, 4:], 0)  # padding untouched
    dropped = out[:, :4] == 1
    assert np.all((out[:, :4] == ids[:, :4]) | dropped)
    assert dropped.mean() == pytest.approx(0.25, abs=0.02)


def test_config_round_trip_and_range():
    layer = TokenDropout(0.1, oov_id=1, seed=3)
    assert TokenDropout.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="rate must be in"):
        TokenDropout(1.0)
