"""Linear-chain conditional random field (CRF) for sequence tagging.

Backend-agnostic: only ``keras`` and ``keras.ops`` are used, and every recursion over time is a
``keras.ops.scan`` so the layer traces with an unknown (``None``) time length.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

# Any backend tensor or array-like accepted by ``keras.ops``.
Tensor = Any

# Two quirks of ``keras.ops.scan`` on the TensorFlow backend shape the code below:
# - the per-step output must match the carry's structure, shapes and dtypes, so every scan
#   emits its carry as output;
# - with several ``xs`` tensors and an unknown time length it crashes (keras 3.15, TF core.py
#   compares a ``None`` static length), so scans run over a single step-index tensor and
#   gather that step's inputs from time-major tensors themselves.


def _as_mask(emissions, mask):
    """Returns a (batch, time) bool mask; a missing mask means every position is valid."""
    if mask is None:
        return ops.ones_like(emissions[..., 0], dtype="bool")
    return ops.cast(mask, "bool")


def _step_reader(emissions, mask):
    """Time-major views plus ``read(t) -> (emissions_t, mask_t, is_first_step)``, and steps."""
    emissions_tm = ops.transpose(emissions, (1, 0, 2))
    mask_tm = ops.transpose(mask, (1, 0))

    def read(t):
        return ops.take(emissions_tm, t, axis=0), ops.take(mask_tm, t, axis=0), ops.equal(t, 0)

    return read, ops.arange(ops.shape(emissions)[1], dtype="int32")


def _forward_log_alpha(emissions, mask, transitions, start, end):
    """Forward algorithm. Returns log Z per sequence (batch,); empty sequences give 0."""

    read, steps = _step_reader(emissions, mask)

    def step(alpha, t):
        e_t, m_t, first_t = read(t)
        # alpha[b, i] + transitions[i, j], reduced over the previous tag i.
        nxt = ops.logsumexp(alpha[:, :, None] + transitions[None, :, :], axis=1) + e_t
        # Step 0 has no previous tag; doing it inside the scan (rather than as the init)
        # avoids a zero-length scan when the dynamic time length is 1.
        nxt = ops.where(first_t, start[None, :] + e_t, nxt)
        # Padded steps carry alpha through unchanged (padding is on the right).
        alpha = ops.where(m_t[:, None], nxt, alpha)
        return alpha, alpha

    alpha0 = ops.zeros_like(emissions[:, 0, :])
    alpha, _ = ops.scan(step, alpha0, steps)
    log_z = ops.logsumexp(alpha + end[None, :], axis=1)
    has_steps = ops.any(mask, axis=1)
    return ops.where(has_steps, log_z, ops.zeros_like(log_z))


def _gold_score(emissions, tags, mask, transitions, start, end):
    """Unnormalised score of the given tag path (batch,), counting valid positions only."""
    num_tags = ops.shape(transitions)[0]
    maskf = ops.cast(mask, emissions.dtype)
    # Padded positions may hold any id (e.g. -1); zero them so the gathers stay in range.
    tags = ops.where(mask, ops.cast(tags, "int32"), ops.zeros_like(tags, dtype="int32"))

    emit = ops.take_along_axis(emissions, tags[:, :, None], axis=2)[:, :, 0]
    score = ops.sum(emit * maskf, axis=1)

    # Pairwise transitions via a flat gather: transitions[prev, next] == flat[prev * K + next].
    flat = ops.reshape(transitions, (-1,))
    pair = ops.take(flat, tags[:, :-1] * num_tags + tags[:, 1:])
    score = score + ops.sum(pair * maskf[:, 1:], axis=1)

    lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
    has_steps = ops.cast(lengths > 0, emissions.dtype)
    last_idx = ops.maximum(lengths - 1, 0)
    last_tag = ops.take_along_axis(tags, last_idx[:, None], axis=1)[:, 0]
    score = score + (ops.take(start, tags[:, 0]) + ops.take(end, last_tag)) * has_steps
    return score


def _viterbi(emissions, mask, transitions, start, end):
    """Viterbi decoding. Returns (tags (batch, time) int32, best score (batch,))."""
    num_tags = ops.shape(transitions)[0]

    read, steps = _step_reader(emissions, mask)

    def step(carry, t):
        score, _ = carry
        e_t, m_t, first_t = read(t)
        cand = score[:, :, None] + transitions[None, :, :]  # (B, prev, next)
        best_prev = ops.cast(ops.argmax(cand, axis=1), "int32")
        nxt = ops.max(cand, axis=1) + e_t
        nxt = ops.where(first_t, start[None, :] + e_t, nxt)
        # Identity backpointers at step 0 and on padding let the backtrack walk straight
        # through the padded tail to the last valid step.
        identity = ops.zeros_like(best_prev) + ops.arange(num_tags, dtype="int32")[None, :]
        keep = ops.logical_and(m_t[:, None], ops.logical_not(first_t))
        backptr = ops.where(keep, best_prev, identity)
        score = ops.where(m_t[:, None], nxt, score)
        return (score, backptr), (score, backptr)

    init = (
        ops.zeros_like(emissions[:, 0, :]),
        ops.zeros_like(emissions[:, 0, :], dtype="int32"),
    )
    (score, _), (_, backptrs) = ops.scan(step, init, steps)
    final = score + end[None, :]
    best_last = ops.cast(ops.argmax(final, axis=1), "int32")
    best_score = ops.max(final, axis=1)

    def back(tag, bp_t):
        # Emit the tag at time t, then follow its backpointer to time t - 1.
        prev = ops.take_along_axis(bp_t, tag[:, None], axis=1)[:, 0]
        return prev, tag

    _, path = ops.scan(back, best_last, backptrs, reverse=True)
    path = ops.transpose(path, (1, 0))
    path = ops.where(mask, path, ops.zeros_like(path))
    has_steps = ops.any(mask, axis=1)
    best_score = ops.where(has_steps, best_score, ops.zeros_like(best_score))
    return path, best_score


@keras.saving.register_keras_serializable(package="rnn_pipelines")
class CRF(keras.layers.Layer):
    """Linear-chain CRF over per-step tag potentials (emissions).

    ``transitions[i, j]`` scores tag ``i`` followed by tag ``j``; ``start_transitions`` and
    ``end_transitions`` score the first and last tag. Padding must be on the right; the mask
    (explicit or the Keras mask propagated from e.g. ``Embedding(mask_zero=True)``) marks the
    valid steps, and masked steps contribute nothing. ``call`` returns Viterbi tag ids
    (batch, time) int32, 0 on padded steps.

    Training: call the layer on ``[emissions, gold_tags]``. It then adds the mean NLL as a
    layer loss (``add_loss``) and returns the decoded tags (zeros in training, where nothing
    reads them), so ``model.fit`` needs no ``loss=`` and no ``y``. Share the same layer in a
    tags-free inference model::

        tokens = keras.Input((None,), dtype="int32")
        gold = keras.Input((None,), dtype="int32")
        x = keras.layers.Embedding(vocab, 32, mask_zero=True)(tokens)
        emissions = keras.layers.Dense(num_tags)(keras.layers.LSTM(32, return_sequences=True)(x))
        crf = CRF(num_tags)
        trainer = keras.Model([tokens, gold], crf([emissions, gold]))
        tagger = keras.Model(tokens, crf(emissions))  # shares all weights with ``trainer``
        trainer.compile(optimizer="adam")
        trainer.fit([token_ids, tag_ids], epochs=5)
        tagger.predict(token_ids)  # -> decoded tag ids
        tagger.save("tagger.keras")  # both models save/load as plain Functional models

    The NLL is also available directly via :meth:`nll` / :meth:`log_likelihood` for custom
    training loops. Sample weights do not apply to the added loss.
    """

    def __init__(self, num_tags: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(num_tags) < 1:
            raise ValueError(f"num_tags must be >= 1, got {num_tags}")
        self.num_tags = int(num_tags)

    def build(self, input_shape: Any = None) -> None:
        # With ``[emissions, tags]`` inputs Keras passes a list of shapes.
        shape = input_shape
        if shape is not None and len(shape) > 0 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        if shape is not None and len(shape) > 0 and shape[-1] not in (None, self.num_tags):
            raise ValueError(f"CRF expects emissions with last dim {self.num_tags}, got {shape}")
        init = keras.initializers.RandomUniform(-0.1, 0.1)
        k = self.num_tags
        self.transitions = self.add_weight(shape=(k, k), initializer=init, name="transitions")
        self.start_transitions = self.add_weight(
            shape=(k,), initializer=init, name="start_transitions"
        )
        self.end_transitions = self.add_weight(shape=(k,), initializer=init, name="end_transitions")
        self.built = True

    def _params(self):
        # Always compute in float32: log-sum-exp over long sequences is fragile in float16.
        return (
            ops.cast(self.transitions, "float32"),
            ops.cast(self.start_transitions, "float32"),
            ops.cast(self.end_transitions, "float32"),
        )

    def _prepare(self, emissions, mask):
        if not self.built:
            self.build(tuple(emissions.shape))
        emissions = ops.cast(emissions, "float32")
        return emissions, _as_mask(emissions, mask)

    def log_partition(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """log Z per sequence, shape (batch,), by the forward algorithm."""
        emissions, mask = self._prepare(emissions, mask)
        return _forward_log_alpha(emissions, mask, *self._params())

    def log_likelihood(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """log p(tags | emissions) per sequence, shape (batch,)."""
        emissions, mask = self._prepare(emissions, mask)
        params = self._params()
        return _gold_score(emissions, tags, mask, *params) - _forward_log_alpha(
            emissions, mask, *params
        )

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """Mean of ``-log_likelihood`` over the batch's sequences with at least one step: the
        training loss (scalar). An empty row (such as one a pinned training batch adds, see
        ``ConfigModel``) has nothing to score and does not count."""
        present = ops.cast(ops.any(_as_mask(emissions, mask), axis=1), "float32")
        total = ops.sum(self.log_likelihood(emissions, tags, mask) * present)
        return -total / ops.maximum(ops.sum(present), 1.0)

    def viterbi_decode(
        self, emissions: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Best tag path (batch, time) int32 (0 past the mask) and its score (batch,)."""
        emissions, mask = self._prepare(emissions, mask)
        return _viterbi(emissions, mask, *self._params())

    @staticmethod
    def _split(inputs, mask):
        if isinstance(inputs, (list, tuple)):
            emissions, tags = inputs
        else:
            emissions, tags = inputs, None
        if isinstance(mask, (list, tuple)):
            # Only the emissions mask matters; the gold tags usually carry none.
            mask = mask[0]
        return emissions, tags, mask

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Tensor:
        """Decodes tags; with ``[emissions, tags]`` inputs also adds the NLL as a layer loss."""
        emissions, tags, mask = self._split(inputs, mask)
        if tags is not None:
            self.add_loss(self.nll(emissions, tags, mask))
            if training:
                # Nothing reads a training step's output; Viterbi would be a second scan.
                return ops.zeros_like(ops.cast(tags, "int32"))
        tags_out, _ = self.viterbi_decode(emissions, mask)
        return tags_out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Tensor | None:
        return self._split(inputs, mask)[2]

    def compute_output_spec(
        self, inputs: Any, mask: Any = None, training: bool | None = None
    ) -> keras.KerasTensor:
        # Declaring the output spec keeps the symbolic (Functional) pass from tracing ``call``
        # and thus from registering a symbolic ``add_loss``.
        emissions = self._split(inputs, None)[0]
        return keras.KerasTensor(tuple(emissions.shape[:2]), dtype="int32")

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shape = input_shape
        if len(shape) > 0 and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        return tuple(shape[:2])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"num_tags": self.num_tags})
        return config
