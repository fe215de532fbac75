"""Bounded serving (``cfg.serve``): every export signature and every task's ``predict`` cuts an
over-long input to the limits and then answers exactly as for the input cut by hand, clips
generation lengths, and rejects a batch over ``serve.max_batch`` with a message naming it.

The models are the tiny configs' untrained models (the equalities hold for any weights), built
and exported once per task with small limits so that 1 MB inputs cost little.
"""

import argparse
import re

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from cli_helpers import tiny_config

from pipelines.forecasting.serving import forecast_records
from pipelines.registry import get_task
from pipelines.spine.config import load_config
from pipelines.spine.serve_bounds import check_batch, cut_text
from pipelines.tagging.serving import predict_records
from pipelines.translation.serving import make_translate_function

MAX_CHARS, MAX_TOKENS, MAX_BATCH, MAX_GENERATE = 200, 8, 3, 12
BOUNDS = [
    f"serve.max_chars={MAX_CHARS}",
    f"serve.max_tokens={MAX_TOKENS}",
    f"serve.max_batch={MAX_BATCH}",
    f"serve.max_generate={MAX_GENERATE}",
]
MB = 1_000_000
TOO_MANY = re.escape("serve.max_batch: a call takes at most 3 inputs")


def _untrained(name: str, *overrides: str):
    """(task, cfg, info, model): the tiny config of ``name`` with the small bounds, its data
    prepared and its model built (untrained, seeded)."""
    task = get_task(name)
    cfg = load_config(task.config_class, tiny_config(name), [*BOUNDS, *overrides])
    keras.utils.set_random_seed(cfg.seed)
    prepared = task.prepare(cfg)
    model = task.build_model(cfg, prepared.info)
    model(prepared.probe_batch[0])  # builds the weights
    return task, cfg, prepared.info, model


def _exported(name: str, tmp_path_factory, *overrides: str):
    """``_untrained`` plus its SavedModel's signatures, loaded back."""
    task, cfg, info, model = _untrained(name, *overrides)
    path = tmp_path_factory.mktemp(name) / "saved_model"
    task.export(model, cfg, info, path)
    return task, cfg, info, model, tf.saved_model.load(str(path)).signatures


def _strings(tensor) -> list[str]:
    return [s.decode("utf-8") for s in tensor.numpy()]


def _predict(task, cfg, info, model, lines, **args) -> list[dict]:
    return list(task.predict(model, cfg, info, lines, argparse.Namespace(input=None, **args)))


# ----------------------------------------------------------------------------- the pieces


def test_cut_text_counts_utf8_characters_from_either_end():
    text = tf.constant(["héllo wörld", "", "ab", "日本語のテキスト"])
    head, cut = cut_text(text, 3)
    assert _strings(head) == ["hél", "", "ab", "日本語"]
    assert cut.numpy().tolist() == [True, False, False, True]
    tail, cut = cut_text(text, 3, keep="tail")
    assert _strings(tail) == ["rld", "", "ab", "キスト"]
    assert cut.numpy().tolist() == [True, False, False, True]
    # A byte that is not UTF-8 counts as one character; nothing fails on it.
    broken, _ = cut_text(tf.constant([b"a\xffbc"]), 2)
    assert broken.numpy().tolist() == [b"a\xff"]


def test_check_batch_rejects_before_serving():
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def serve(text):
        return tf.strings.length(check_batch(text, 2))

    assert serve(tf.constant(["a", "bc"])).numpy().tolist() == [1, 2]
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"serve\.max_batch: a call takes at most 2"
    ):
        serve(tf.constant(["a", "b", "c"]))


# ----------------------------------------------------------------------------- sentiment


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory):
    return _exported("sentiment", tmp_path_factory)


REVIEW = "a great movie , the best acting and a wonderful story ; awful ending though . "


def test_sentiment_signature_reads_the_first_max_chars(sentiment):
    *_, signatures = sentiment
    serve = signatures["serving_default"]
    long = (REVIEW * (MB // len(REVIEW) + 1))[:MB]
    shifted = "x" * (MAX_CHARS - 5) + REVIEW  # only its first 5 review characters are read
    out = serve(text=tf.constant([long, shifted]))
    by_hand = serve(text=tf.constant([long[:MAX_CHARS], shifted[:MAX_CHARS]]))
    np.testing.assert_array_equal(out["probability"], by_hand["probability"])
    assert _strings(out["label"]) == _strings(by_hand["label"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=TOO_MANY):
        serve(text=tf.constant(["a", "b", "c", "d"]))


def test_sentiment_keep_tail_reads_the_last_max_chars():
    _, cfg, info, model = _untrained("sentiment", "data.keep=tail")
    from pipelines.sentiment.serving import serving_function

    serve, _ = serving_function(model, cfg, info)
    long = "x" * 5000 + REVIEW * 3
    out = serve(tf.constant([long]))["probability"]
    np.testing.assert_array_equal(out, serve(tf.constant([long[-MAX_CHARS:]]))["probability"])


def test_sentiment_predict_marks_cut_texts_and_batches_within_the_limit(sentiment):
    task, cfg, info, model, _ = sentiment
    lines = [REVIEW, REVIEW * 10, "", "awful", "great", "fine", "bad"]
    records = _predict(task, cfg, info, model, lines)
    assert [r["text"] for r in records] == lines  # seven texts in batches of at most three
    assert [r.get("truncated", False) for r in records] == [False, True] + [False] * 5
    assert set(records[0]) == {"text", "probability", "label"}
    by_hand = _predict(task, cfg, info, model, [REVIEW, (REVIEW * 10)[:MAX_CHARS], ""])
    assert [r["probability"] for r in records[:3]] == [r["probability"] for r in by_hand]


# ----------------------------------------------------------------------------- tagging


@pytest.fixture(scope="module", params=["ner", "pos"])
def tagger(request, tmp_path_factory):
    return _exported(request.param, tmp_path_factory)


WORDS = ["Peter", "Blackburn", "lives", "in", "London", "and", "works", "for", "the"]
WORDS += ["European", "Commission", "in", "Brussels"]


def test_tagger_reads_the_first_max_tokens_of_a_1mb_sentence(tagger):
    _, _, info, _, signatures = tagger
    serve = signatures["serving_default"]
    sentence = (" ".join(WORDS) + " ") * (MB // 80)
    assert len(sentence) >= MB
    out = serve(sentences=tf.constant([sentence, "Peter lives"]))
    by_hand = serve(sentences=tf.constant([" ".join(WORDS[:MAX_TOKENS]), "Peter lives"]))
    assert out["num_tokens"].numpy().tolist() == [MAX_TOKENS, 2]
    assert _strings(out["tags"]) == _strings(by_hand["tags"])
    assert all(tag in info.output_tags for tag in _strings(out["tags"])[0].split())
    # Characters first: ten 30-character words cut at 200 characters are six words and a
    # 20-character start of the seventh, all read.
    long_words = " ".join((w * 30)[:29] for w in WORDS[:10])
    out = serve(sentences=tf.constant([long_words]))
    by_hand = serve(sentences=tf.constant([long_words[:MAX_CHARS]]))
    assert out["num_tokens"].numpy().tolist() == [7]
    assert _strings(out["tags"]) == _strings(by_hand["tags"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=TOO_MANY):
        serve(sentences=tf.constant(["a", "b", "c", "d"]))


def test_tag_tokens_reads_the_first_max_tokens_columns(tagger):
    *_, signatures = tagger
    tag_tokens = signatures["tag_tokens"]
    wide = [(WORDS * 5)[:50], WORDS[:3] + [""] * 47]
    out = tag_tokens(tokens=tf.constant(wide))
    by_hand = tag_tokens(tokens=tf.constant([row[:MAX_TOKENS] for row in wide]))
    assert out["tags"].shape == (2, MAX_TOKENS)
    assert out["num_tokens"].numpy().tolist() == [MAX_TOKENS, 3]
    assert out["tags"].numpy().tolist() == by_hand["tags"].numpy().tolist()
    assert out["tags"].numpy()[1, 3:].tolist() == [b""] * (MAX_TOKENS - 3)
    # One 1 MB token is read as its first max_chars characters.
    huge = tag_tokens(tokens=tf.constant([["Peter", "x" * MB]]))
    cut = tag_tokens(tokens=tf.constant([["Peter", "x" * MAX_CHARS]]))
    assert huge["tags"].numpy().tolist() == cut["tags"].numpy().tolist()
    with pytest.raises(tf.errors.InvalidArgumentError, match=TOO_MANY):
        tag_tokens(tokens=tf.constant([["a"]] * 4))


def test_tagger_predict_marks_cut_sentences(tagger):
    task, cfg, info, model, signatures = tagger
    lines = [" ".join(WORDS), "Peter lives in Paris", "", "a b", "c", "d", "e"]
    records = _predict(task, cfg, info, model, lines)
    assert [r["text"] for r in records] == lines  # seven lines in batches of at most three
    assert [r.get("truncated", False) for r in records] == [True] + [False] * 6
    assert records[0]["tokens"] == WORDS[:MAX_TOKENS] and len(records[0]["tags"]) == MAX_TOKENS
    by_hand = [" ".join(WORDS[:MAX_TOKENS]), *lines[1:3]]  # the same first batch, cut by hand
    expected = _strings(signatures["serving_default"](sentences=tf.constant(by_hand))["tags"])
    assert [r["tags"] for r in records[:3]] == [tags.split() for tags in expected]
    assert "truncated" not in records[1] and len(records[1]["tags"]) == 4


def test_predict_records_batches_within_max_batch():
    sizes = []

    def tag_text(sentences):
        sizes.append(int(sentences.shape[0]))
        tokens = tf.strings.split(sentences)
        return {"tokens": tokens, "tags": tf.ragged.map_flat_values(tf.strings.upper, tokens)}

    records = list(predict_records(tag_text, [f"w{i}" for i in range(7)], max_batch=3))
    assert sizes == [3, 3, 1] and [r["tags"] for r in records] == [[f"W{i}"] for i in range(7)]


# ----------------------------------------------------------------------------- translation


@pytest.fixture(scope="module")
def translation(tmp_path_factory):
    return _exported("translation", tmp_path_factory)


SOURCE = ["tengo", "hambre", "y", "quiero", "comer", "algo", "con", "mis", "amigos", "en"]
SOURCE += ["la", "casa", "de", "mi", "madre", "hoy"]


def test_translation_signatures_read_the_first_max_tokens(translation):
    *_, signatures = translation
    long = (" ".join(SOURCE) + " ") * (MB // 70)
    assert len(long) >= MB
    for name in ("serving_default", "translate", "translate_greedy", "attention"):
        serve = signatures[name]
        out = serve(source=tf.constant([long, "tengo hambre"]))
        by_hand = serve(source=tf.constant([" ".join(SOURCE[:MAX_TOKENS]), "tengo hambre"]))
        assert _strings(out["translation"]) == _strings(by_hand["translation"]), name
        # attention: the tokens read and their weights, no score.
        for key in ("score", "weights"):
            if key in out:
                np.testing.assert_array_equal(out[key], by_hand[key])
        if name == "attention":
            shown = [t.decode() for t in out["source_tokens"].numpy()[0]]
            assert shown == SOURCE[:MAX_TOKENS]
        with pytest.raises(tf.errors.InvalidArgumentError, match=TOO_MANY):
            serve(source=tf.constant(["a", "b", "c", "d"]))


def test_translation_length_is_bounded_by_max_generate():
    _, cfg, info, model = _untrained(
        "translation", "decoding.max_length=20", "serve.max_generate=4"
    )
    for beam in (None, 3):
        bounded, _ = make_translate_function(model, cfg, info, beam, bounds=cfg.serve)
        unbounded, _ = make_translate_function(model, cfg, info, beam)
        assert bounded(tf.constant(["tengo hambre"]))["tokens"].shape[1] <= 4
        assert unbounded(tf.constant(["tengo hambre"]))["tokens"].shape[1] <= 20


def test_translation_predict_marks_cut_sources(translation):
    task, cfg, info, model, signatures = translation
    lines = [" ".join(SOURCE), "tengo hambre", "a", "b", "c"]
    records = _predict(task, cfg, info, model, lines, beam_size=None)
    assert [r["source"] for r in records] == lines
    assert [r.get("truncated", False) for r in records] == [True] + [False] * 4
    by_hand = [" ".join(SOURCE[:MAX_TOKENS]), *lines[1:3]]  # the same first batch, cut by hand
    expected = signatures["translate"](source=tf.constant(by_hand))
    assert [r["translation"] for r in records[:3]] == _strings(expected["translation"])


# ----------------------------------------------------------------------------- char LM


@pytest.fixture(scope="module")
def charlm(tmp_path_factory):
    return _exported("charlm", tmp_path_factory)


PRIME = "ROMEO:\nBut soft, what light through yonder window breaks?\n"


def _generate(signature, prime, length, **sampling):
    args = {"temperature": tf.constant(0.0), **sampling}
    return signature(prime=tf.constant(prime), length=tf.constant(length), **args)


def test_charlm_reads_the_last_max_chars_of_the_prime(charlm):
    *_, signatures = charlm
    long = (PRIME * (MB // len(PRIME) + 1))[-MB:]
    by_hand = long[-MAX_CHARS:]
    for name in ("generate", "serving_default"):
        out = _generate(signatures[name], [long, "RO"], 10)
        cut = _generate(signatures[name], [by_hand, "RO"], 10)
        assert _strings(out["generated"]) == _strings(cut["generated"])
        assert _strings(out["text"])[0] == by_hand + _strings(out["generated"])[0]
    sampling = dict(
        temperature=tf.constant(1.0), top_k=tf.constant(0), seed=tf.constant(3, tf.int64)
    )
    out = _generate(signatures["sample"], [long], 10, **sampling)
    cut = _generate(signatures["sample"], [by_hand], 10, **sampling)
    assert _strings(out["generated"]) == _strings(cut["generated"])


def test_charlm_length_is_clipped_and_batch_bounded(charlm):
    *_, signatures = charlm
    for name in ("generate", "sample"):
        extra = (
            {} if name == "generate" else dict(top_k=tf.constant(0), seed=tf.constant(1, tf.int64))
        )
        huge = _generate(signatures[name], ["RO"], 10**9, **extra)
        assert [len(g) for g in _strings(huge["generated"])] == [MAX_GENERATE]
        assert _strings(_generate(signatures[name], ["RO"], -5, **extra)["generated"]) == [""]
        with pytest.raises(tf.errors.InvalidArgumentError, match=TOO_MANY):
            _generate(signatures[name], ["a", "b", "c", "d"], 3, **extra)


def test_charlm_predict_marks_a_cut_prime_and_clips_length(charlm, capsys):
    task, cfg, info, model, signatures = charlm
    long = PRIME * 10
    args = dict(prime=long, length=50, temperature=0.0, top_k=0, seed=1, plain=False)
    (record,) = _predict(task, cfg, info, model, None, **args)
    assert record["prime"] == long and record["truncated"] is True
    assert len(record["generated"]) == MAX_GENERATE
    assert "--length 50: generating serve.max_generate = 12" in capsys.readouterr().err
    expected = _generate(signatures["generate"], [long[-MAX_CHARS:]], MAX_GENERATE)
    assert record["generated"] == _strings(expected["generated"])[0]
    (short,) = _predict(task, cfg, info, model, None, **{**args, "prime": "RO", "length": 5})
    assert "truncated" not in short and len(short["generated"]) == 5


# ----------------------------------------------------------------------------- forecasting


@pytest.fixture(scope="module")
def forecasting(tmp_path_factory):
    return _exported("forecasting", tmp_path_factory)


def test_forecasting_rejects_big_batches_and_non_finite_windows(forecasting):
    _, _, info, _, signatures = forecasting
    serve = signatures["serving_default"]
    shape = (info.lookback, len(info.feature_names))
    windows = np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)
    assert serve(window=tf.constant(windows[:3]))["forecast"].shape[0] == 3
    with pytest.raises(tf.errors.InvalidArgumentError, match=TOO_MANY):
        serve(window=tf.constant(windows))
    for bad in (np.nan, np.inf):
        broken = windows[:1].copy()
        broken[0, 2, 1] = bad
        with pytest.raises(tf.errors.InvalidArgumentError, match="window: NaN or inf"):
            serve(window=tf.constant(broken))


def test_forecasting_rows_signature_rejects_big_batches(forecasting):
    *_, signatures = forecasting
    sample = signatures["sample_rows"](offset=tf.constant([0, 1, 2, 3]))["rows"]
    assert signatures["forecast_rows"](rows=sample[:3])["forecast"].shape[0] == 3
    with pytest.raises(tf.errors.InvalidArgumentError, match=TOO_MANY):
        signatures["forecast_rows"](rows=sample)


def test_forecasting_checks_the_window_shape_when_called(forecasting):
    _, _, info, _, signatures = forecasting
    serve = signatures["serving_default"]
    lookback, features = info.lookback, len(info.feature_names)
    wrong = [(1, lookback + 1, features), (1, lookback, features - 1), (lookback, features), (3,)]
    for shape in wrong:
        with pytest.raises(tf.errors.InvalidArgumentError, match="window: expected shape"):
            serve(window=tf.zeros(shape))
    empty = serve(window=tf.zeros((0, lookback, features)))["forecast"]
    assert empty.shape == (0, info.horizon, len(info.target_indices))


def test_forecasting_predict_batches_within_the_limit_and_names_a_nan_row(forecasting):
    _, _, info, _, signatures = forecasting
    span = (info.lookback - 1) * info.sampling_rate + 1
    rows = span + 6  # seven windows
    times = pd.date_range("2014-01-01", periods=rows, freq="h").to_numpy()
    values = np.random.default_rng(1).normal(size=(rows, len(info.feature_names)))
    values = values.astype(np.float32)
    sizes = []

    def serve(window):
        sizes.append(int(window.shape[0]))
        return signatures["serving_default"](window=window)

    records = list(forecast_records(serve, info, times, values, True, max_batch=3))
    assert sizes == [3, 3, 1] and len(records) == 7 * info.horizon
    values[4, 1] = np.nan
    with pytest.raises(
        ValueError,
        match=r"predict: the row at 2014-01-01T04:00:00 has nan in "
        f"column '{info.feature_names[1]}'",
    ):
        list(forecast_records(serve, info, times, values, True, max_batch=3))
