"""Many-to-one text classifier: token ids → embedding → recurrent stack → pooling → head."""

from __future__ import annotations

import keras

from models.bigram_bag import BigramBag
from models.rnn_stack import RNNStack
from models.sequence_pooling import SequencePooling
from models.token_dropout import TokenDropout


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class RNNClassifier(keras.Model):
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
        cell, units, num_layers, bidirectional, merge_mode, dropout, recurrent_dropout,
            residual: the recurrent stack (see ``RNNStack``).
        pooling: ``last | mean | max | mean_max | attention``.
        head_dropout: dropout before the output layer.
        bigram_buckets: if > 0, a bag of words and hashed bigrams (``BigramBag``) with this
            many bigram rows is concatenated to the pooled recurrent features.
        bigram_dim: width of the bag's embeddings.
        num_classes: 1 for binary (sigmoid), else the number of classes (softmax).
    """

    def __init__(
        self,
        vocabulary_size: int,
        embedding_dim: int = 128,
        embedding_dropout: float = 0.0,
        token_dropout: float = 0.0,
        cell: str = "lstm",
        units: int = 64,
        num_layers: int = 1,
        bidirectional: bool = True,
        merge_mode: str = "concat",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        residual: bool = False,
        pooling: str = "max",
        head_dropout: float = 0.0,
        num_classes: int = 1,
        bigram_buckets: int = 0,
        bigram_dim: int = 32,
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
        self.encoder = RNNStack(
            cell=cell,
            units=units,
            num_layers=num_layers,
            bidirectional=bidirectional,
            merge_mode=merge_mode,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            residual=residual,
            return_sequences=pooling != "last",
            name="encoder",
        )
        self.pooler = None if pooling == "last" else SequencePooling(pooling, name="pooling")
        self.bigram_bag = (
            BigramBag(vocabulary_size, bigram_buckets, bigram_dim, name="bigram_bag")
            if bigram_buckets > 0
            else None
        )
        self.head_dropout = keras.layers.Dropout(head_dropout, name="head_dropout")
        self.head = keras.layers.Dense(
            num_classes,
            activation="sigmoid" if num_classes == 1 else "softmax",
            dtype="float32",
            name="probability",
        )

        # === Functional Model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        kept_ids = self.token_dropout(token_ids)
        x = self.token_embedding(kept_ids)
        x = self.embedding_dropout(x)
        x = self.encoder(x)
        if self.pooler is not None:
            x = self.pooler(x)
        if self.bigram_bag is not None:
            x = keras.layers.Concatenate(name="features")([x, self.bigram_bag(kept_ids)])
        x = self.head_dropout(x)
        outputs = self.head(x)
        super().__init__(inputs=token_ids, outputs=outputs, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.embedding_dropout_rate = embedding_dropout
        self.token_dropout_rate = token_dropout
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.residual = residual
        self.pooling = pooling
        self.head_dropout_rate = head_dropout
        self.num_classes = num_classes
        self.bigram_buckets = bigram_buckets
        self.bigram_dim = bigram_dim

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "embedding_dropout": self.embedding_dropout_rate,
            "token_dropout": self.token_dropout_rate,
            "cell": self.cell,
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "merge_mode": self.merge_mode,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "residual": self.residual,
            "pooling": self.pooling,
            "head_dropout": self.head_dropout_rate,
            "num_classes": self.num_classes,
            "bigram_buckets": self.bigram_buckets,
            "bigram_dim": self.bigram_dim,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
