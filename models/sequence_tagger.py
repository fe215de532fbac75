"""Sequence tagger (NER, POS): word + casing + char features → recurrent stack → CRF or softmax."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from models.char_features import CharFeatures
from models.config_model import ConfigModel
from models.crf import CRF
from models.rnn_stack import RNNStack, stack_config
from models.tag_softmax import TagSoftmax
from models.token_dropout import TokenDropout

FEATURE_INPUTS = ("word_ids", "casing_ids", "char_ids")


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class SequenceTagger(ConfigModel):
    """The training model of a BiLSTM-CRF tagger (Lample et al. 2016; Ma & Hovy 2016).

    Inputs (a dict, id 0 = padding everywhere; padding on the right):
    ``word_ids`` (batch, words), ``casing_ids`` (batch, words), ``char_ids`` (batch, words,
    chars) and the gold ``tags`` (batch, words). The output layer (``CRF`` or ``TagSoftmax``)
    adds the tagging loss itself, so ``compile`` needs no ``loss``; the model's output is the
    decoded tag ids (batch, words) int32. :meth:`tagging_model` gives the tags-free
    inference model that shares every weight.

    Args:
        word_vocabulary_size, char_vocabulary_size, casing_vocabulary_size: id counts,
            padding and OOV included.
        num_tags: tag ids (``0`` is also what padding decodes to).
        word_embedding_dim: word embedding width.
        casing_embedding_dim: casing embedding width; 0 leaves the casing out.
        char_encoder: ``"cnn"``, ``"lstm"`` or ``"none"`` (see ``CharFeatures``).
        char_embedding_dim, char_units, char_kernel_size: the char encoder.
        word_dropout: probability of replacing a word id by OOV (id 1) in training.
        feature_dropout: dropout on the concatenated word features.
        rnn: the recurrent stack's settings (``RNNStack`` keyword arguments; by default one
            bidirectional LSTM layer of 100 units per direction).
        output_dropout: dropout before the tag scores.
        output: ``"crf"`` or ``"softmax"``.
    """

    def __init__(
        self,
        word_vocabulary_size: int,
        char_vocabulary_size: int,
        casing_vocabulary_size: int,
        num_tags: int,
        word_embedding_dim: int = 100,
        casing_embedding_dim: int = 8,
        char_encoder: str = "cnn",
        char_embedding_dim: int = 25,
        char_units: int = 50,
        char_kernel_size: int = 3,
        word_dropout: float = 0.0,
        feature_dropout: float = 0.5,
        rnn: Mapping[str, Any] | None = None,
        output_dropout: float = 0.5,
        output: str = "crf",
        **kwargs,
    ):
        if output not in ("crf", "softmax"):
            raise ValueError(f"output must be 'crf' or 'softmax', got {output!r}")
        if char_encoder not in ("cnn", "lstm", "none"):
            raise ValueError(f"char_encoder must be cnn, lstm or none, got {char_encoder!r}")
        rnn = stack_config(rnn, cell="lstm", units=100, num_layers=1, bidirectional=True)
        # === Layers ===
        self.word_dropout = TokenDropout(word_dropout, name="word_dropout")
        self.word_embedding = keras.layers.Embedding(
            word_vocabulary_size, word_embedding_dim, mask_zero=True, name="word_embedding"
        )
        self.casing_embedding = (
            keras.layers.Embedding(
                casing_vocabulary_size,
                casing_embedding_dim,
                mask_zero=True,  # Concatenate ORs masks: every part must mask padding
                name="casing_embedding",
            )
            if casing_embedding_dim
            else None
        )
        self.char_features = (
            CharFeatures(
                char_vocabulary_size,
                embedding_dim=char_embedding_dim,
                encoder=char_encoder,
                units=char_units,
                kernel_size=char_kernel_size,
                name="char_features",
            )
            if char_encoder != "none"
            else None
        )
        self.feature_dropout = keras.layers.Dropout(feature_dropout, name="feature_dropout")
        self.encoder = RNNStack(**rnn, name="encoder")
        self.output_dropout = keras.layers.Dropout(output_dropout, name="output_dropout")
        # float32 scores: the CRF's log-sum-exp is fragile in float16.
        self.scores = keras.layers.Dense(num_tags, dtype="float32", name="tag_scores")
        self.tag_output = (
            CRF(num_tags, name="crf") if output == "crf" else TagSoftmax(num_tags, name="softmax")
        )

        # === Functional Model ===
        inputs = {
            "word_ids": keras.Input(shape=(None,), dtype="int32", name="word_ids"),
            "casing_ids": keras.Input(shape=(None,), dtype="int32", name="casing_ids"),
            "char_ids": keras.Input(shape=(None, None), dtype="int32", name="char_ids"),
            "tags": keras.Input(shape=(None,), dtype="int32", name="tags"),
        }
        parts = [self.word_embedding(self.word_dropout(inputs["word_ids"]))]
        if self.casing_embedding is not None:
            parts.append(self.casing_embedding(inputs["casing_ids"]))
        if self.char_features is not None:
            parts.append(self.char_features(inputs["char_ids"]))
        x = keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 else parts[0]
        x = self.encoder(self.feature_dropout(x))
        scores = self.scores(self.output_dropout(x))
        outputs = self.tag_output([scores, inputs["tags"]])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # Symbolic tensors for tagging_model(); set past Keras' attribute tracking.
        object.__setattr__(self, "_feature_inputs", {k: inputs[k] for k in FEATURE_INPUTS})
        object.__setattr__(self, "_scores", scores)
        object.__setattr__(self, "_tagging_model", None)

        # === Config ===
        self.word_vocabulary_size = word_vocabulary_size
        self.char_vocabulary_size = char_vocabulary_size
        self.casing_vocabulary_size = casing_vocabulary_size
        self.num_tags = num_tags
        self.word_embedding_dim = word_embedding_dim
        self.casing_embedding_dim = casing_embedding_dim
        self.char_encoder = char_encoder
        self.char_embedding_dim = char_embedding_dim
        self.char_units = char_units
        self.char_kernel_size = char_kernel_size
        self.word_dropout_rate = word_dropout
        self.feature_dropout_rate = feature_dropout
        self.rnn = rnn
        self.output_dropout_rate = output_dropout
        self.output_type = output

    def tagging_model(self) -> keras.Model:
        """Inference model: the three feature inputs → decoded tag ids, sharing all weights."""
        if self._tagging_model is None:
            tagger = keras.Model(
                self._feature_inputs, self.tag_output(self._scores), name=f"{self.name}_tagger"
            )
            object.__setattr__(self, "_tagging_model", tagger)
        return self._tagging_model

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "word_vocabulary_size": self.word_vocabulary_size,
                "char_vocabulary_size": self.char_vocabulary_size,
                "casing_vocabulary_size": self.casing_vocabulary_size,
                "num_tags": self.num_tags,
                "word_embedding_dim": self.word_embedding_dim,
                "casing_embedding_dim": self.casing_embedding_dim,
                "char_encoder": self.char_encoder,
                "char_embedding_dim": self.char_embedding_dim,
                "char_units": self.char_units,
                "char_kernel_size": self.char_kernel_size,
                "word_dropout": self.word_dropout_rate,
                "feature_dropout": self.feature_dropout_rate,
                "rnn": dict(self.rnn),
                "output_dropout": self.output_dropout_rate,
                "output": self.output_type,
            }
        )
        return config


# Checkpoints saved before POS shared this model name it NERTagger (its stack settings flat,
# which ``ConfigModel.from_config`` upgrades); they load as a SequenceTagger. Lookup only: new
# saves use the new name.
keras.saving.get_custom_objects()["rnn_pipelines>NERTagger"] = SequenceTagger
