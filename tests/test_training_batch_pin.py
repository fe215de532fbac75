"""A pinned model (``models.rnn_stack.pin_training_batch`` on a ``ConfigModel``) runs a
training batch of unknown size padded to the pinned size and cut back: the same outputs,
losses and gradients as without the pin."""

import keras
import numpy as np
import pytest
from test_ner_model import _batch, _tagger

from models.rnn_classifier import RNNClassifier
from models.rnn_stack import RNNStack, pin_training_batch

tf = pytest.importorskip("tensorflow")


def _classifier():
    keras.utils.set_random_seed(0)
    return RNNClassifier(30, embedding_dim=6, rnn={"units": 4}, pooling="mean_max")


def _classifier_batch():
    ids = np.array([[3, 4, 5, 0], [6, 7, 0, 0], [8, 9, 10, 11]], dtype="int32")
    return {"token_ids": ids}


def _spec(x):
    return tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))


def _train_step(model, x):
    """Outputs, the loss (layer losses plus a function of the outputs) and every gradient of
    one training call in a tf.function that does not know the batch's size."""
    inputs = next(iter(x.values())) if len(x) == 1 else x

    @tf.function(input_signature=[tf.nest.map_structure(_spec, inputs)], autograph=False)
    def step(inputs):
        with tf.GradientTape() as tape:
            out = model(inputs, training=True)
            loss = tf.reduce_sum(tf.sin(tf.cast(out, "float32"))) + sum(model.losses)
        return out, loss, tape.gradient(loss, [v.value for v in model.trainable_variables])

    return step(inputs)


@pytest.mark.parametrize("make", [_classifier, lambda: _tagger("crf", "lstm")])
def test_pinned_model_gives_the_same_outputs_losses_and_gradients(make):
    x = _classifier_batch() if make is _classifier else _batch()
    plain, pinned = make(), make()
    pinned.set_weights(plain.get_weights())
    assert pin_training_batch(pinned, 8) == 1 and pinned.training_batch_size == 8
    stack = next(layer for layer in pinned._flatten_layers() if isinstance(layer, RNNStack))
    seen = []
    stack_call = stack.call

    def spy(inputs, *args, **kwargs):
        seen.append(inputs.shape[0])
        return stack_call(inputs, *args, **kwargs)

    stack.call = spy
    (out_a, loss_a, grads_a), (out_b, loss_b, grads_b) = (
        _train_step(plain, x),
        _train_step(pinned, x),
    )
    assert seen == [8]  # the stack got a static batch of 8: the model padded its inputs
    assert out_a.shape == out_b.shape == (len(next(iter(x.values()))), *out_a.shape[1:])
    np.testing.assert_allclose(out_a.numpy(), out_b.numpy(), atol=1e-6)
    np.testing.assert_allclose(loss_a.numpy(), loss_b.numpy(), rtol=1e-6)
    for a, b in zip(grads_a, grads_b, strict=True):
        np.testing.assert_allclose(
            tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy(), atol=1e-6
        )
    # Inference runs as it is.
    seen.clear()
    pinned(x if len(x) > 1 else x["token_ids"], training=False)
    assert seen == [len(next(iter(x.values())))]
