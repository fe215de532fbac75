"""Many-to-one text classifier: token ids → embedding → recurrent stack → pooling → head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from models.bigram_bag import BigramBag
from models.config_model import ConfigModel
from models.logit_ensemble import LogitEnsemble
from models.rnn_stack import RNNStack, stack_config
from models.sequence_pooling import SequencePooling
from models.token_dropout import TokenDropout


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class RNNClassifier(ConfigModel):
    """Classifies padded token-id sequences (id 0 = padding, masked everywhere).

    ``pooling="last"`` uses the stack's final state (each direction's last real step);
    ``mean | max | mean_max | attention`` pool the per-step outputs over real tokens.
    With ``num_classes=1`` the output is a sigmoid probability of shape (batch, 1),
    otherwise a softmax over ``num_classes``. Outputs are float32 under mixed precision.

    Args:
        vocabulary_size: number of token ids, padding and OOV included.
        token_dropout: probability of replacing a token by the OOV id (id 1) in training.
        embedding_dim: embedding width.
        embedding_dropout: channel dropout on the embeddings (whole dimensions per text).
        rnn: the recurrent stack's settings (``RNNStack`` keyword arguments: ``cell``,
            ``units``, ``num_layers``, ...); unset ones default to a one-layer
            bidirectional LSTM of 64 units.
        pooling: ``last | mean | max | mean_max | attention``.
        head_dropout: dropout before the output layer.
        bigram_buckets: if > 0, a bag of words and hashed bigrams (``BigramBag``) with this
            many bigram rows gets its own linear head, and the output averages the recurrent
            head's and the bag head's logits (``LogitEnsemble``).
        bigram_dim: width of the bag's embeddings.
        bigram_lr_multiplier: how much faster the bag learns than the rest (``BigramBag``).
        solo_rate: with the bag, the fraction of training examples on which one of the two
            heads, chosen at random, predicts alone (so each head also works alone).
        num_classes: 1 for binary (sigmoid), else the number of classes (softmax).
    """

    def __init__(
        self,
        vocabulary_size: int,
        embedding_dim: int = 128,
        embedding_dropout: float = 0.0,
        token_dropout: float = 0.0,
        rnn: Mapping[str, Any] | None = None,
        pooling: str = "max",
        head_dropout: float = 0.0,
        num_classes: int = 1,
        bigram_buckets: int = 0,
        bigram_dim: int = 32,
        bigram_lr_multiplier: float = 1.0,
        solo_rate: float = 1.0,
        **kwargs,
    ):
        # === Layers ===
        self.token_dropout = TokenDropout(token_dropout, name="token_dropout")
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, mask_zero=True, name="token_embedding"
        )
        self.embedding_dropout = keras.layers.SpatialDropout1D(
            embedding_dropout, name="embedding_dropout"
        )
        stack = stack_config(rnn, cell="lstm", units=64, num_layers=1, bidirectional=True)
        self.encoder = RNNStack(**stack, return_sequences=pooling != "last", name="encoder")
        self.pooler = None if pooling == "last" else SequencePooling(pooling, name="pooling")
        self.bigram_bag = (
            BigramBag(
                vocabulary_size,
                bigram_buckets,
                bigram_dim,
                lr_multiplier=bigram_lr_multiplier,
                name="bigram_bag",
            )
            if bigram_buckets > 0
            else None
        )
        self.head_dropout = keras.layers.Dropout(head_dropout, name="head_dropout")
        activation = "sigmoid" if num_classes == 1 else "softmax"
        if self.bigram_bag is None:
            self.head = keras.layers.Dense(
                num_classes, activation=activation, dtype="float32", name="probability"
            )
        else:
            self.head = keras.layers.Dense(num_classes, dtype="float32", name="rnn_logits")
            self.bag_head = keras.layers.Dense(num_classes, dtype="float32", name="bag_logits")
            self.ensemble = LogitEnsemble(solo_rate, dtype="float32", name="ensemble")
            self.output_activation = keras.layers.Activation(
                activation, dtype="float32", name="probability"
            )

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        kept_ids = self.token_dropout(token_ids)
        x = self.token_embedding(kept_ids)
        x = self.embedding_dropout(x)
        x = self.encoder(x)
        if self.pooler is not None:
            x = self.pooler(x)
        outputs = self.head(self.head_dropout(x))
        if self.bigram_bag is not None:
            bag_logits = self.bag_head(self.bigram_bag(kept_ids))
            outputs = self.output_activation(self.ensemble([outputs, bag_logits]))
        super().__init__(inputs=token_ids, outputs=outputs, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.embedding_dropout_rate = embedding_dropout
        self.token_dropout_rate = token_dropout
        self.rnn = stack
        self.pooling = pooling
        self.head_dropout_rate = head_dropout
        self.num_classes = num_classes
        self.bigram_buckets = bigram_buckets
        self.bigram_dim = bigram_dim
        self.bigram_lr_multiplier = bigram_lr_multiplier
        self.solo_rate = solo_rate

    def with_head_logits(self) -> keras.Model:
        """The same weights, returning ``[output, rnn_logits, bag_logits]`` (needs the bag):
        how well each head of the ensemble does alone."""
        if self.bigram_bag is None:
            raise ValueError("with_head_logits: this classifier has no bag (bigram_buckets=0)")
        return keras.Model(self.input, [self.output, self.head.output, self.bag_head.output])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "embedding_dropout": self.embedding_dropout_rate,
                "token_dropout": self.token_dropout_rate,
                "rnn": dict(self.rnn),
                "pooling": self.pooling,
                "head_dropout": self.head_dropout_rate,
                "num_classes": self.num_classes,
                "bigram_buckets": self.bigram_buckets,
                "bigram_dim": self.bigram_dim,
                "bigram_lr_multiplier": self.bigram_lr_multiplier,
                "solo_rate": self.solo_rate,
            }
        )
        return config
