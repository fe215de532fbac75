"""The base of the project's models: a functional model rebuilt from its constructor arguments."""

from __future__ import annotations

import keras

from models.rnn_stack import legacy_stack_config


class ConfigModel(keras.Model):
    """A functional ``keras.Model`` whose config is its constructor's arguments (keras-hub's
    ``Backbone`` pattern): a subclass builds its graph in ``__init__`` and extends
    :meth:`get_config` (``config = super().get_config()``, then its own entries).

    :meth:`from_config` also loads checkpoints saved before a model's recurrent stack became
    one ``rnn`` config entry (its settings were top-level keys then); a config without stack
    settings passes unchanged.
    """

    def get_config(self):
        # Not Functional's config (the layer graph): the subclasses' constructors take this.
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        return cls(**legacy_stack_config(config))
