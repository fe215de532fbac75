"""``export --format onnx|tflite``: every task's numeric core converts, runs in onnxruntime and
the TFLite interpreter and gives the trained model's numbers; the caller's side of the
contract (decoding tags, the generation and translation loops) reproduces the SavedModel
path; a graph that does not convert fails in one line and writes nothing."""

import json

import numpy as np
import pytest

from tests.cli_helpers import run_cli, tiny_config

# Module-scoped tiny runs: one step of training is enough, the weights only need to be
# the trained model's.
ONE_STEP = ["train.epochs=1", "train.steps_per_epoch=1", "train.validation_steps=1"]
TASKS = ("sentiment", "ner", "pos", "translation", "forecasting", "charlm")
# POS with a character BiLSTM (as configs/pos.yaml): its loop runs over batch × words, which
# TFLite's built-in ops cannot lower (NER covers a tagger's TFLite export, with the char CNN).
EXTRA = {"pos": ("model.char_encoder=lstm",)}
CONVERTING = [(t, f) for t in TASKS for f in ("onnx", "tflite") if (t, f) != ("pos", "tflite")]


def _train(tmp_path_factory, name: str, extra: tuple[str, ...]):
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    task = get_task(name)
    cfg = load_config(task.config_class, tiny_config(name), [*ONE_STEP, *extra])
    run_dir = runner.train(task, cfg, tmp_path_factory.mktemp("runs") / name)
    return task, run_dir


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every task trained one step and exported in both formats: name → (task, run, model,
    cfg, info, {format: manifest})."""
    from pipelines.spine import runner
    from pipelines.spine.portable_export import export_portable

    runs = {}
    for name in TASKS:
        task, run_dir = _train(tmp_path_factory, name, EXTRA.get(name, ()))
        cfg, info = runner.load_run(task, run_dir)
        model = runner.load_best_model(run_dir)
        formats = [f for t, f in CONVERTING if t == name]
        manifests = {fmt: export_portable(task, run_dir, fmt) for fmt in formats}
        runs[name] = (task, run_dir, model, cfg, info, manifests)
    return runs


def _graph(run_dir, fmt, part):
    from pipelines.spine.portable_runtime import load

    return load(run_dir / f"export_{fmt}" / f"{part}.{fmt}", fmt)


@pytest.mark.parametrize(("name", "fmt"), CONVERTING)
def test_converted_graphs_match_the_model(exported, name, fmt):
    """Each part, reloaded from disk, gives TensorFlow's outputs on its example within the
    stated tolerance; the directory holds the graphs, the contract's files, a manifest and
    the README."""
    from pipelines.spine.portable_export import TOLERANCE, reference_outputs

    task, run_dir, model, cfg, info, manifests = exported[name]
    folder = run_dir / f"export_{fmt}"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == json.loads(json.dumps(manifests[fmt]))
    portable = task.portable(model, cfg, info)
    assert sorted(manifest["parts"]) == sorted(p.name for p in portable.parts)
    for part in portable.parts:
        expected = reference_outputs(part)
        got = _graph(run_dir, fmt, part.name)(part.example)
        assert set(got) == set(expected)
        for key, value in expected.items():
            scale = max(1.0, float(np.max(np.abs(value))))
            np.testing.assert_allclose(got[key], value, rtol=0, atol=TOLERANCE * scale)
        entry = manifest["parts"][part.name]
        assert entry["bytes"] == (folder / entry["file"]).stat().st_size > 0
        assert entry["parity_max_abs_diff"] <= TOLERANCE * 100
    for file in [*manifest["files"], "README.md"]:
        assert (folder / file).stat().st_size > 0
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".tmp")]


def test_tags_decoded_from_portable_scores_are_the_models(exported):
    """NER (CRF: Viterbi with crf.json) and POS (argmax) tags computed by a caller from the
    ONNX scores equal the Keras tagger's on the example sentences."""
    from pipelines.tagging.portable import viterbi

    for name in ("ner", "pos"):
        task, run_dir, model, cfg, info, _ = exported[name]
        part = task.portable(model, cfg, info).parts[0]
        folder = run_dir / "export_onnx"
        scores = _graph(run_dir, "onnx", "scorer")(part.example)["scores"]
        expected = np.asarray(model.tagging_model()(part.example, training=False))
        lengths = np.count_nonzero(part.example["word_ids"], axis=1)
        for row, length in enumerate(lengths):
            if cfg.model.output == "crf":
                crf = json.loads((folder / "crf.json").read_text(encoding="utf-8"))
                decoded = viterbi(scores[row, :length], crf) if length else []
            else:
                decoded = np.argmax(scores[row, :length], axis=-1).tolist()
            assert decoded == expected[row, :length].tolist(), (name, row)
        tags = json.loads((folder / "tags.json").read_text(encoding="utf-8"))
        assert tags == info.output_tags


def test_greedy_loops_over_portable_steps_match_the_savedmodel_path(exported):
    """A caller's greedy loop over the ONNX char-LM step and over the TFLite translation
    encoder and decoder step produce the SavedModel graph's greedy output, token for token."""
    import tensorflow as tf

    from data.char_text import CharVocabulary
    from pipelines.charlm.serving import sampler
    from pipelines.translation.serving import banned_ids, make_translate_function

    _, run_dir, model, cfg, info, _ = exported["charlm"]
    vocabulary = json.loads(
        (run_dir / "export_onnx" / "vocabulary.json").read_text(encoding="utf-8")
    )
    step = _graph(run_dir, "onnx", "step")
    width = next(s["shape"][1] for s in _read(run_dir, "onnx")["parts"]["step"]["inputs"][1:])
    states = np.zeros((1, width), np.float32)
    prime, length = "ROMEO:", 12
    for char in prime:
        index = vocabulary.index(char) if char in vocabulary else 0
        out = step({"char_ids": np.array([index], np.int32), "states": states})
        states = out["next_states"]
    generated = ""
    for _ in range(length):
        logits = out["logits"][0].copy()
        logits[0] = -np.inf  # never the unknown id
        chosen = int(np.argmax(logits))
        generated += vocabulary[chosen]
        out = step({"char_ids": np.array([chosen], np.int32), "states": out["next_states"]})
    sample = sampler(model, CharVocabulary.from_list(info.vocabulary))
    assert generated == sample(prime, length, 0.0, 0, 1)

    _, run_dir, model, cfg, info, _ = exported["translation"]
    translate, vectorizer = make_translate_function(model, cfg, info, None)
    source = tf.constant(["Tengo hambre.", "¿Dónde está la estación?"])
    expected = translate(source)["tokens"].numpy()
    from data.text_vectorizer import pad_batch
    from data.translation_text import END_ID, START_ID, texts_to_ids

    ids = pad_batch(texts_to_ids(source, vectorizer)[:, : cfg.data.max_source_length])
    encoded = _graph(run_dir, "tflite", "encoder")({"source_ids": np.asarray(ids)})
    step = _graph(run_dir, "tflite", "decoder_step")
    tokens = np.full(len(expected), START_ID, np.int32)
    states, finished, produced = encoded["states"], np.zeros(len(expected), bool), []
    for _ in range(cfg.decoding.max_length):
        out = step(
            {"token_ids": tokens, "states": states}
            | {k: encoded[k] for k in ("memory", "keys", "mask")}
        )
        logits = out["logits"].copy()
        logits[:, list(banned_ids(cfg.decoding))] = -np.inf
        tokens = np.where(finished, 0, np.argmax(logits, axis=-1)).astype(np.int32)
        produced.append(tokens)
        finished |= tokens == END_ID
        states = out["next_states"]
    assert np.array_equal(np.stack(produced, axis=1), expected)


def _read(run_dir, fmt):
    return json.loads((run_dir / f"export_{fmt}" / "manifest.json").read_text(encoding="utf-8"))


def test_a_graph_that_does_not_convert_fails_in_one_line(exported):
    """``export pos --format tflite`` with a character BiLSTM: exit status 1 and one error
    line naming the graph and the layer; no export directory is left."""
    _, run_dir, *_ = exported["pos"]
    result = run_cli("export", "pos", "--run-dir", str(run_dir), "--format", "tflite")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if not line.startswith("[pos]")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: pos: tflite: scorer does not convert with built-in ops")
    assert "char_features" in errors[0]
    assert not (run_dir / "export_tflite").exists()
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".tmp")]
