"""A tagger's portable core: word, casing and character ids → tag ids (NER and POS)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from data.token_features import CASINGS, TokenEncoder
from models.sequence_tagger import FEATURE_INPUTS
from pipelines.spine.portable_model import PortableModel
from pipelines.spine.portable_part import PortablePart

SPECS = {
    "word_ids": tf.TensorSpec([None, None], tf.int32, name="word_ids"),
    "casing_ids": tf.TensorSpec([None, None], tf.int32, name="casing_ids"),
    "char_ids": tf.TensorSpec([None, None, None], tf.int32, name="char_ids"),
}


def portable_tagger(
    model: keras.Model,
    encoder: TokenEncoder,
    output_tags: Sequence[str],
    sentences: Sequence[str],
) -> PortableModel:
    """``scorer``: the three feature id tensors → ``scores`` [batch, words, tags] float32,
    the tag scores before decoding (the CRF's Viterbi loop does not convert: tf2onnx loses
    its loop outputs, TFLite cannot lower it). Decoding is the caller's: the argmax per word
    for a softmax output, :func:`viterbi` with ``crf.json`` for a CRF. The example is
    ``sentences`` (space-separated tokens) encoded as the SavedModel encodes them."""
    scorer = keras.Model(model.tagging_model().input, model.scores.output, name="scorer")

    def score(word_ids, casing_ids, char_ids):
        features = {"word_ids": word_ids, "casing_ids": casing_ids, "char_ids": char_ids}
        return {"scores": tf.cast(scorer(features, training=False), tf.float32)}

    features = encoder.encode_padded(tf.strings.split(tf.constant(list(sentences))))
    part = PortablePart(
        name="scorer",
        function=score,
        inputs=tuple(SPECS[name] for name in FEATURE_INPUTS),
        example={name: np.asarray(features[name], np.int32) for name in FEATURE_INPUTS},
    )
    crf = model.output_type == "crf"
    casing = ", ".join(f"{i} {name}" for i, name in enumerate(CASINGS))
    contract = {
        "tokens": "split the sentence on whitespace; pad every row on the right with 0 "
        "(a padded word has 0 in all three inputs and is masked)",
        "word_ids": (
            f"the token {'lower-cased' if encoder.lowercase else 'as is'}"
            f"{', digits replaced by 0' if encoder.digits_to_zero else ''}, looked up in "
            "words.json (index = id; 0 padding, 1 unknown)"
        ),
        "casing_ids": f"the first class that holds, in this order: {casing} "
        "(see casing_ids in data/token_features.py)",
        "char_ids": f"the token's first {encoder.max_chars} characters, each looked up in "
        "chars.json (0 padding, 1 unknown); [batch, words, chars] padded with 0",
        "decoding": (
            "Viterbi over each row's real words with crf.json: score(path) = start[t0] + "
            "sum scores[i, t_i] + sum transitions[t_(i-1)][t_i] + end[t_last] (as "
            "pipelines/tagging/portable.py viterbi)"
            if crf
            else "the argmax over tags of each real word's scores"
        ),
        "tags": "a decoded tag id is an index into tags.json",
    }
    files = {
        "words.json": json.dumps(encoder.words, ensure_ascii=False),
        "chars.json": json.dumps(encoder.chars, ensure_ascii=False),
        "tags.json": json.dumps(list(output_tags), ensure_ascii=False),
    }
    if crf:
        layer = model.tag_output
        files["crf.json"] = json.dumps(
            {
                "transitions": np.asarray(layer.transitions, np.float32).tolist(),
                "start": np.asarray(layer.start_transitions, np.float32).tolist(),
                "end": np.asarray(layer.end_transitions, np.float32).tolist(),
            }
        )
    return PortableModel(
        parts=(part,),
        contract=contract,
        files=files,
        outside=(
            "tokenising, the word/character lookups, casing classes, "
            f"{'the CRF Viterbi decoding' if crf else 'the argmax'} and tag names"
        ),
    )


def viterbi(scores: np.ndarray, crf: dict[str, list]) -> list[int]:
    """The best tag path of one sentence's ``scores`` [words, tags] under ``crf``
    (``crf.json``: transitions[previous][next], start, end): the CRF decoding a caller of
    the portable export does itself, as the model does it."""
    transitions = np.asarray(crf["transitions"], np.float64)
    best = np.asarray(crf["start"], np.float64) + scores[0]
    pointers = []
    for row in scores[1:]:
        candidates = best[:, None] + transitions
        pointers.append(np.argmax(candidates, axis=0))
        best = np.max(candidates, axis=0) + row
    path = [int(np.argmax(best + np.asarray(crf["end"], np.float64)))]
    for back in reversed(pointers):
        path.append(int(back[path[-1]]))
    return path[::-1]
