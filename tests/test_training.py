"""The shared optimizer: Polyak averaging that forgets its start (checked by hand recurrence)."""

import numpy as np

from pipelines.spine.sections import TrainConfig
from pipelines.spine.training import make_optimizer


def test_weight_average_warms_up_then_keeps_the_configured_momentum():
    import keras

    train = TrainConfig(optimizer="sgd", learning_rate=0.1, clipnorm=None, ema_momentum=0.95)
    optimizer = make_optimizer(train, epoch_steps=10)
    weight = keras.Variable(np.zeros(3, np.float32))
    optimizer.build([weight])
    expected_weight, expected_average = np.zeros(3), np.zeros(3)
    velocity = np.zeros(3)
    for t in range(400):  # the warm-up reaches 0.95 at step 161
        gradient = np.full(3, -1.0 if t % 2 else 2.0, np.float32)
        optimizer.apply([gradient], [weight])
        velocity = 0.9 * velocity - 0.1 * gradient  # Nesterov SGD, as Keras writes it
        expected_weight = expected_weight + 0.9 * velocity - 0.1 * gradient
        momentum = 0.0 if t == 0 else min(0.95, (1 + t) / (10 + t))
        expected_average = momentum * expected_average + (1 - momentum) * expected_weight
        if t in (1, 100, 399):
            average = optimizer._model_variables_moving_average[0].numpy()
            np.testing.assert_allclose(weight.numpy(), expected_weight, rtol=1e-4)
            np.testing.assert_allclose(average, expected_average, rtol=1e-3)
    assert optimizer.get_config()["ema_momentum"] == 0.95  # saved as a plain Keras optimizer
