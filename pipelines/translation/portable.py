"""Translation's portable core: the encoder and one decoder step with explicit states. The
search over steps (the SavedModel's in-graph beam search and greedy loop) does not convert
and stays with the caller."""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from data.text_vectorizer import pad_batch
from data.translation_text import END_ID, PAD_ID, START_ID, UNK_ID, texts_to_ids
from models.seq2seq_translator import Seq2SeqTranslator
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.portable_part import PortablePart
from pipelines.translation.config import TranslationConfig, TranslationInfo
from pipelines.translation.serving import EXAMPLE_SOURCES, banned_ids, source_vectorizer


def portable_translator(
    model: Seq2SeqTranslator, cfg: TranslationConfig, info: TranslationInfo
) -> PortableModel:
    """``encoder``: ``source_ids`` [batch, source] int32 → ``states`` [batch, width] (the
    decoder's initial states side by side), ``memory``, ``keys`` [batch, source, units] and
    ``mask`` [batch, source] bool; ``decoder_step``: ``token_ids`` [rows] int32, ``states``
    [rows, width] and the encoder's ``memory``, ``keys``, ``mask`` → ``logits`` [rows,
    target vocabulary] and ``next_states``. Rows = G × batch, G consecutive rows per source
    (G = 1 greedy, the beam size for beam search)."""
    vectorizer = source_vectorizer(cfg, info)
    sources = tf.constant([*EXAMPLE_SOURCES.get(info.source_language, ["a", "b"]), ""])
    source_ids = pad_batch(texts_to_ids(sources, vectorizer)[:, : cfg.data.max_source_length])
    initial, (memory, keys, mask) = model.encode(source_ids)
    sizes = [int(s.shape[-1]) for s in initial]

    def encode(source_ids):
        states, (memory, keys, mask) = model.encode(source_ids)
        return {
            "states": tf.concat([tf.cast(s, tf.float32) for s in states], -1),
            "memory": memory,
            "keys": keys,
            "mask": mask,
        }

    def decode_step(token_ids, states, memory, keys, mask):
        split = tf.split(states, sizes, axis=-1)
        logits, new_states = model.decode_step(token_ids, split, (memory, keys, mask))
        packed = tf.concat([tf.cast(s, tf.float32) for s in new_states], -1)
        return {"logits": tf.cast(logits, tf.float32), "next_states": packed}

    rows, width = int(source_ids.shape[0]), sum(sizes)
    units = int(memory.shape[-1])
    key_units = int(keys.shape[-1])
    rng = np.random.default_rng(0)
    encoder = PortablePart(
        name="encoder",
        function=encode,
        inputs=(tf.TensorSpec([None, None], tf.int32, name="source_ids"),),
        example={"source_ids": np.asarray(source_ids, np.int32)},
    )
    step = PortablePart(
        name="decoder_step",
        function=decode_step,
        inputs=(
            tf.TensorSpec([None], tf.int32, name="token_ids"),
            tf.TensorSpec([None, width], tf.float32, name="states"),
            tf.TensorSpec([None, None, units], tf.float32, name="memory"),
            tf.TensorSpec([None, None, key_units], tf.float32, name="keys"),
            tf.TensorSpec([None, None], tf.bool, name="mask"),
        ),
        example={
            "token_ids": rng.integers(START_ID, len(info.target_vocabulary), rows).astype(np.int32),
            "states": np.concatenate([np.asarray(s, np.float32) for s in initial], -1),
            "memory": np.asarray(memory, np.float32),
            "keys": np.asarray(keys, np.float32),
            "mask": np.asarray(mask, bool),
        },
    )
    d = cfg.decoding
    contract = {
        "source_ids": "standardise the source as data/translation_text.py standardize does "
        f"(punctuation split off{', lower-cased' if cfg.data.lowercase_source else ''}), "
        "split on whitespace, look each token up in source_vocabulary.json (0 padding, "
        f"1 unknown), keep the first {cfg.data.max_source_length}, pad with 0 on the right",
        "decoding": f"start every row with token_ids = {START_ID} ([START]) and the "
        "encoder's states; feed each step's next_states and chosen token back; stop at "
        f"{END_ID} ([END]) or after {d.max_length} tokens; never choose ids "
        f"{list(banned_ids(d))}; beam search as the SavedModel: beam {d.beam_size}, length "
        f"penalty {d.length_penalty} (models/beam_search.py)",
        "rows": "decoder_step takes G consecutive rows per source over the encoder's memory, "
        "keys and mask of that source (G = 1 greedy, G = beam size in beam search)",
        "target": "token ids index target_vocabulary.json; join the tokens with spaces",
        "ids": f"padding {PAD_ID}, unknown {UNK_ID}, start {START_ID}, end {END_ID}",
    }
    return PortableModel(
        parts=(encoder, step),
        contract=contract,
        files={
            "source_vocabulary.json": json.dumps(info.source_vocabulary, ensure_ascii=False),
            "target_vocabulary.json": json.dumps(info.target_vocabulary, ensure_ascii=False),
        },
        outside="the search over decoder steps (in-graph beam search and greedy loop: "
        "while loops over string-producing state), tokenising and detokenising",
    )
