"""The base of the project's models: a functional model rebuilt from its constructor arguments."""

from __future__ import annotations

import keras
from keras import ops, tree

from models.rnn_stack import legacy_stack_config, pad_rows


class ConfigModel(keras.Model):
    """A functional ``keras.Model`` whose config is its constructor's arguments (keras-hub's
    ``Backbone`` pattern): a subclass builds its graph in ``__init__`` and extends
    :meth:`get_config` (``config = super().get_config()``, then its own entries).

    :meth:`from_config` also loads checkpoints saved before a model's recurrent stack became
    one ``rnn`` config entry (its settings were top-level keys then); a config without stack
    settings passes unchanged.
    """

    # Set by ``models.rnn_stack.pin_training_batch`` (the runner), not part of the config.
    training_batch_size: int | None = None

    def call(self, inputs, training=None, mask=None):
        rows = self._padded_rows(inputs, training, mask)
        if rows is None:
            return super().call(inputs, training=training, mask=mask)
        # A training batch of unknown size (TensorFlow traces fit's step once for every batch
        # of a stream with partial ones) runs as ``rows`` rows: every input padded with zeros
        # (id 0 is padding, masked everywhere), given that static size, and every output cut
        # back. No layer of these models mixes rows (no batch statistics) and the CRF's loss
        # skips empty rows, so outputs, losses and gradients are the same as without the pin
        # (tests/test_training_batch_pin.py); a layer that mixed rows would need it off.
        count = ops.shape(tree.flatten(inputs)[0])[0]
        padded = tree.map_structure(lambda x: pad_rows(x, rows), inputs)
        outputs = super().call(padded, training=training, mask=mask)
        return tree.map_structure(lambda y: y[:count], outputs)

    def _padded_rows(self, inputs, training, mask) -> int | None:
        """The rows a training batch runs as, or None to run it as it is: not training, no
        size set, a mask given, or a batch whose size the step knows (JAX: always)."""
        if not training or not self.training_batch_size:
            return None
        # Keras passes one mask per input, None where an input has none.
        if any(m is not None for m in tree.flatten(mask)):
            return None
        if any(x.shape[0] is not None for x in tree.flatten(inputs)):
            return None
        return self.training_batch_size

    def get_config(self):
        # Not Functional's config (the layer graph): the subclasses' constructors take this.
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**legacy_stack_config(config))
