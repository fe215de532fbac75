"""Encoder-decoder with attention: a recurrent encoder, a recurrent decoder started from the
encoder's final state, attention over the encoder outputs, greedy and beam-search decoding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
from keras import ops

from models.beam_search import beam_search, greedy_search
from models.config_model import ConfigModel
from models.encoder_decoder_attention import EncoderDecoderAttention
from models.recurrent import cell_name, recurrent_layer, resolve_cell
from models.rnn_stack import RNNStack, stack_config

# The encoder stack when ``rnn`` leaves a setting out: RNNStack's own defaults but for these.
ENCODER_DEFAULTS: dict[str, Any] = stack_config(None, cell="gru", units=256, bidirectional=True)


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class Seq2SeqTranslator(ConfigModel):
    """``(source_ids (B, S), target_in_ids (B, T)) → logits (B, T, target_vocabulary)``.

    Id 0 is padding on both sides (masked everywhere: padded source steps get no attention,
    padded target steps no loss). The encoder is an embedding and an ``RNNStack``; its last
    layer's final states (both directions concatenated) pass through one ``tanh`` Dense per
    state component (h, and c for LSTM cells) to start the decoder, a single recurrent layer
    of the same cell type with ``decoder_units``. Each decoder output attends over the
    encoder outputs (Luong: the decoder output is the query, no input feeding, so training
    runs the decoder as one fused recurrent layer); ``tanh(W [context; output])`` then feeds
    the output layer (Luong et al. 2015).

    Training is teacher forcing through the functional graph. Decoding uses the same layers
    one step at a time: :meth:`encode` once, then :meth:`decode_step` per token, driven by
    :meth:`generate` (greedy or beam search in ``keras.ops``).

    Args:
        source_vocabulary_size, target_vocabulary_size: ids per side, padding included.
        embedding_dim: width of both embeddings.
        embedding_dropout: dropout on the embeddings (training only).
        rnn: the encoder stack's settings (``RNNStack`` keyword arguments: cell, units,
            num_layers, bidirectional, merge_mode, dropout, recurrent_dropout, residual),
            over ``ENCODER_DEFAULTS``; the decoder uses its ``cell`` too.
        decoder_units: decoder width (also the attention query width).
        attention: ``"luong"`` (multiplicative) or ``"bahdanau"`` (additive).
        attention_units: hidden width of the additive score (bahdanau only).
        attentional_units: width of ``tanh(W [context; output])``, the input of the output
            layer (default ``decoder_units``); narrower makes the output layer, the largest
            cost with big vocabularies, cheaper.
        output_dropout: dropout before the output layer.
    """

    def __init__(
        self,
        source_vocabulary_size: int,
        target_vocabulary_size: int,
        embedding_dim: int = 256,
        embedding_dropout: float = 0.0,
        rnn: Mapping[str, Any] | None = None,
        decoder_units: int = 512,
        attention: str = "luong",
        attention_units: int = 256,
        attentional_units: int | None = None,
        output_dropout: float = 0.0,
        **kwargs,
    ):
        rnn = stack_config(rnn, **ENCODER_DEFAULTS)
        cell_class = resolve_cell(rnn["cell"])
        rnn["cell"] = cell_name(cell_class)  # a name in the config, also for a cell class
        state_size = cell_class(1).state_size  # unbuilt, only to count state components
        components = len(state_size) if isinstance(state_size, list | tuple) else 1

        # Unit-variance embeddings: with Keras' default (±0.05) the recurrent layers start
        # nearly input-blind, attention stays uniform and training idles for hundreds of steps
        # before it starts using the source (measured on copy and spa→eng tasks). One
        # initializer for both sides: Keras draws its seed when it is made, so a second one
        # would change every seeded run's initial weights.
        embedding_init = keras.initializers.RandomNormal(stddev=1.0)

        def embedding(size: int, side: str) -> keras.layers.Embedding:
            return keras.layers.Embedding(
                size,
                embedding_dim,
                embeddings_initializer=embedding_init,
                mask_zero=True,
                name=f"{side}_embedding",
            )

        # === Layers ===
        self.source_embedding = embedding(source_vocabulary_size, "source")
        self.source_dropout = keras.layers.Dropout(embedding_dropout, name="source_dropout")
        self.encoder = RNNStack(
            **{**rnn, "cell": cell_class}, return_sequences=True, return_state=True, name="encoder"
        )
        self.bridges = [
            keras.layers.Dense(decoder_units, activation="tanh", name=f"bridge_{index}")
            for index in range(components)
        ]
        self.target_embedding = embedding(target_vocabulary_size, "target")
        self.target_dropout = keras.layers.Dropout(embedding_dropout, name="target_dropout")
        self.decoder = recurrent_layer(
            cell_class, decoder_units, return_sequences=True, name="decoder"
        )
        self.attention = EncoderDecoderAttention(
            attention,
            units=decoder_units if attention == "luong" else attention_units,
            name="attention",
        )
        self.attentional_state = keras.layers.Dense(
            attentional_units or decoder_units, activation="tanh", name="attentional_state"
        )
        self.output_dropout = keras.layers.Dropout(output_dropout, name="output_dropout")
        self.output_projection = keras.layers.Dense(
            target_vocabulary_size, dtype="float32", name="logits"
        )
        self._components = components
        self._directions = 2 if rnn["bidirectional"] else 1

        # === Functional Model ===
        source_ids = keras.Input(shape=(None,), dtype="int32", name="source_ids")
        target_in_ids = keras.Input(shape=(None,), dtype="int32", name="target_in_ids")
        x = self.source_dropout(self.source_embedding(source_ids))
        memory, *encoder_states = self.encoder(x)
        y = self.target_dropout(self.target_embedding(target_in_ids))
        decoded = self.decoder(y, initial_state=self._bridge(encoder_states))
        context, _ = self.attention([decoded, memory])
        logits = self._output(decoded, context)
        super().__init__(inputs=[source_ids, target_in_ids], outputs=logits, **kwargs)

        # === Config ===
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.embedding_dropout = embedding_dropout
        self.rnn = rnn
        self.decoder_units = decoder_units
        self.attention_score = attention
        self.attention_units = attention_units
        self.attentional_units = attentional_units
        self.output_dropout_rate = output_dropout

    def _bridge(self, encoder_states: Sequence[Any]) -> list[Any]:
        """Decoder initial states from the encoder's last layer (directions concatenated)."""
        last = list(encoder_states[-self._components * self._directions :])
        per_direction = [
            last[d * self._components : (d + 1) * self._components] for d in range(self._directions)
        ]
        merged = [
            ops.concatenate([states[c] for states in per_direction], axis=-1)
            if self._directions > 1
            else per_direction[0][c]
            for c in range(self._components)
        ]
        return [bridge(state) for bridge, state in zip(self.bridges, merged, strict=True)]

    def _output(self, decoded, context, training=None):
        state = self.attentional_state(ops.concatenate([context, decoded], axis=-1))
        return self.output_projection(self.output_dropout(state, training=training))

    # --- step-by-step use of the same layers (inference) ---

    def encode(self, source_ids) -> tuple[list[Any], tuple[Any, Any, Any]]:
        """``source_ids`` → (decoder initial states, constants ``(memory, keys, mask)``)."""
        mask = ops.not_equal(source_ids, 0)
        x = self.source_embedding(source_ids)
        memory, *states = self.encoder(x, mask=mask, training=False)
        keys = self.attention.project_memory(memory)
        return self._bridge(states), (memory, keys, mask)

    def decode_step(self, token_ids, states, constants, return_attention: bool = False):
        """One decoder step: previous tokens (N,) and states → next-token logits (N, V).

        ``constants`` (from :meth:`encode`) may hold one row per source for several decoder
        rows each: N = G · sources, G consecutive rows per source (beam search's hypotheses),
        so that each source's memory is stored and read once, not G times.
        """
        memory, keys, mask = constants
        # A plain lookup: the layer would attach a padding mask that the cell cannot take.
        x = ops.take(self.target_embedding.embeddings, ops.cast(token_ids, "int32"), axis=0)
        output, states = self.decoder.cell(x, list(states), training=False)
        # The G rows of a source are the "time" axis of one attention call over its memory.
        query = ops.reshape(output, (ops.shape(memory)[0], -1, ops.shape(output)[-1]))
        context, weights = self.attention.attend(query, keys, memory, mask)
        context = ops.reshape(context, (-1, ops.shape(context)[-1]))
        logits = self._output(output, context, training=False)
        if return_attention:
            return logits, list(states), ops.reshape(weights, (-1, ops.shape(weights)[-1]))
        return logits, list(states)

    def teacher_forced(self, source_ids, target_in_ids) -> tuple[Any, Any]:
        """(logits (B, T, V), attention weights (B, T, S)) for given decoder inputs."""
        states, (memory, keys, source_mask) = self.encode(source_ids)
        target_mask = ops.not_equal(target_in_ids, 0)
        y = self.target_embedding(target_in_ids)
        decoded = self.decoder(y, initial_state=states, mask=target_mask, training=False)
        context, weights = self.attention.attend(decoded, keys, memory, source_mask)
        return self._output(decoded, context, training=False), weights

    def sequence_log_probability(self, source_ids, target_out_ids, start_id: int):
        """Log-probability (B,) of each ``target_out_ids`` row (tokens then the end token,
        padded with 0) under the model, by teacher forcing."""
        target_out_ids = ops.cast(target_out_ids, "int32")
        start = ops.full((ops.shape(target_out_ids)[0], 1), start_id, dtype="int32")
        target_in = ops.concatenate([start, target_out_ids[:, :-1]], axis=1)
        logits, _ = self.teacher_forced(source_ids, target_in)
        logp = ops.log_softmax(logits, axis=-1)
        picked = ops.squeeze(ops.take_along_axis(logp, target_out_ids[..., None], axis=-1), -1)
        real = ops.cast(ops.not_equal(target_out_ids, 0), picked.dtype)
        return ops.sum(picked * real, axis=1)

    def generate(
        self,
        source_ids,
        *,
        start_id: int,
        end_id: int,
        max_length: int,
        beam_size: int | None = None,
        length_penalty: float = 0.0,
        banned_ids: Sequence[int] = (),
    ) -> dict[str, Any]:
        """Greedy (``beam_size=None``) or beam-search decoding of a batch of source ids."""
        states, constants = self.encode(source_ids)
        common = dict(start_id=start_id, end_id=end_id, max_length=max_length)
        if beam_size is None:
            return greedy_search(
                self.decode_step, states, constants, banned_ids=banned_ids, **common
            )
        return beam_search(
            self.decode_step,
            states,
            constants,
            beam_size=beam_size,
            length_penalty=length_penalty,
            banned_ids=banned_ids,
            **common,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_vocabulary_size": self.source_vocabulary_size,
                "target_vocabulary_size": self.target_vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "embedding_dropout": self.embedding_dropout,
                "rnn": dict(self.rnn),
                "decoder_units": self.decoder_units,
                "attention": self.attention_score,
                "attention_units": self.attention_units,
                "attentional_units": self.attentional_units,
                "output_dropout": self.output_dropout_rate,
            }
        )
        return config
