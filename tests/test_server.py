"""``python -m pipelines serve``: the real server in a subprocess on a free 127.0.0.1 port,
serving every task's tiny run (trained one step, exported once for the module).

Its answers must equal the SavedModel's own outputs for the same inputs (loaded in this
process), in both of TF Serving's request formats; status and metadata must read like TF
Serving's; every refusal is one JSON error with its status; concurrent requests answer as
sequential ones; SIGTERM stops it cleanly.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from cli_helpers import ROOT, run_cli, tiny_config

from pipelines.spine import quiet

TASKS = ("charlm", "forecasting", "ner", "pos", "sentiment", "translation")
ONE_STEP = ("train.epochs=1", "train.steps_per_epoch=1", "train.validation_steps=1")
MAX_BATCH = 4  # sentiment's serve.max_batch, small so that an over-bound batch is cheap
MAX_BODY_MB = 1
SERVING = re.compile(r"\[serve\] serving .* at http://127\.0\.0\.1:(\d+)/")
PAGES = {"index.html": "<!doctype html><title>served models</title>", "app.js": "let a = 1;\n"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """task → run directory of its tiny config, trained one step and exported."""
    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config

    root = tmp_path_factory.mktemp("runs")
    found = {}
    for name in TASKS:
        task = get_task(name)
        sets = [*ONE_STEP, *([f"serve.max_batch={MAX_BATCH}"] if name == "sentiment" else [])]
        cfg = load_config(task.config_class, tiny_config(name), sets)
        found[name] = runner.train(task, cfg, root / name)
        runner.export(task, found[name])
    return found


@pytest.fixture(scope="module")
def started(runs, tmp_path_factory):
    """The server process, just started (``(process, stderr path)``); killed at the end if a
    test left it running. The reference models load meanwhile (:func:`saved`)."""
    pages = tmp_path_factory.mktemp("pages")
    for name, text in PAGES.items():
        (pages / name).write_text(text, encoding="utf-8")
    log = tmp_path_factory.mktemp("log") / "stderr.txt"
    args = ["serve", "--port", "0", "--pages-dir", str(pages), "--max-body-mb", str(MAX_BODY_MB)]
    with open(log, "w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipelines", *args, *(f"{t}={d}" for t, d in runs.items())],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"},  # the server must quiet it itself
        )
    yield process, log
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def saved(runs, started):
    """task → the SavedModel's signatures, loaded in this process (the reference answers)."""
    import tensorflow as tf

    return {t: tf.saved_model.load(str(d / "saved_model")).signatures for t, d in runs.items()}


@pytest.fixture(scope="module")
def server(started, saved):
    """The running server: ``(process, port, stderr path)``."""
    process, log = started
    deadline = time.monotonic() + 240
    while not (match := SERVING.search(log.read_text(encoding="utf-8"))):
        assert process.poll() is None, log.read_text(encoding="utf-8")[-3000:]
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.2)
    return process, int(match.group(1)), log


def call(port: int, method: str, path: str, body=None) -> tuple[int, dict, str]:
    """(status, JSON answer, content type) of one request; ``body`` a dict (sent as JSON) or
    raw bytes."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = body if isinstance(body, bytes | None) else json.dumps(body).encode("utf-8")
    connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
    answer = connection.getresponse()
    raw = answer.read()
    connection.close()
    kind = answer.getheader("Content-Type", "")
    return answer.status, json.loads(raw) if "json" in kind else raw, kind


def predict(port: int, model: str, body) -> dict:
    status, answer, _ = call(port, "POST", f"/v1/models/{model}:predict", body)
    assert status == 200, answer
    return answer


def reference(signatures, name: str, **inputs) -> dict:
    """What signature ``name`` answers for ``inputs`` in this process, as JSON would carry it
    (strings decoded, float32 kept as float32 for exact comparison)."""
    import tensorflow as tf

    specs = signatures[name].structured_input_signature[1]
    outputs = signatures[name](**{k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()})
    return {k: plain(v.numpy()) for k, v in outputs.items()}


def plain(array: np.ndarray):
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array).tolist()
    return array.tolist()


def same(served, expected) -> bool:
    """Whether a served JSON value equals the reference (floats compared as float32)."""
    if isinstance(expected, list):
        return (
            isinstance(served, list)
            and len(served) == len(expected)
            and all(same(s, e) for s, e in zip(served, expected, strict=True))
        )
    if isinstance(expected, float):
        return np.float32(served) == np.float32(expected)
    return served == expected


def rows(columns: dict) -> list[dict]:
    """Columnar outputs as the row format's predictions (one object per instance)."""
    count = len(next(iter(columns.values())))
    return [{k: v[i] for k, v in columns.items()} for i in range(count)]


# ------------------------------------------------------------------------------ answers


def test_sentiment_rows_and_columns_answer_like_the_saved_model(server, saved):
    _, port, _ = server
    texts = ["a great movie, I loved it", "awful and boring", ""]
    expected = reference(saved["sentiment"], "serving_default", text=texts)
    by_rows = predict(port, "sentiment", {"instances": texts})["predictions"]
    assert same(
        [[p["label"], p["probability"]] for p in by_rows],
        [[r["label"], r["probability"]] for r in rows(expected)],
    )
    by_columns = predict(port, "sentiment", {"inputs": {"text": texts}})["outputs"]
    assert set(by_columns) == {"label", "probability"}
    assert same(by_columns["label"], expected["label"])
    assert same(by_columns["probability"], expected["probability"])
    # A one-input signature also takes the bare list and {"input": value} instances.
    assert predict(port, "sentiment", {"inputs": texts})["outputs"] == by_columns
    named = predict(port, "sentiment", {"instances": [{"text": t} for t in texts]})
    assert named["predictions"] == by_rows
    assert all(isinstance(p["probability"], float) for p in by_rows)  # numbers, not strings


@pytest.mark.parametrize("task", ["ner", "pos"])
def test_tagging_answers_like_the_saved_model(server, saved, task):
    _, port, _ = server
    sentences = ["Peter lives in Paris", "I saw her duck", ""]
    expected = reference(saved[task], "serving_default", sentences=sentences)
    served = predict(port, task, {"instances": sentences})["predictions"]
    assert served == rows(expected)  # tags strings and int32 token counts, exactly
    assert [p["num_tokens"] for p in served] == [4, 4, 0]
    tokens = [["Peter", "lives", "in", "Paris"], ["Time", "flies", "", ""]]
    expected = reference(saved[task], "tag_tokens", tokens=tokens)
    served = predict(port, task, {"signature_name": "tag_tokens", "inputs": {"tokens": tokens}})
    assert served == {"outputs": expected}
    assert served["outputs"]["tags"][1][2:] == ["", ""]


def test_translation_answers_like_the_saved_model(server, saved):
    _, port, _ = server
    sources = ["Tengo hambre.", "Buenos días."]
    for signature in ("serving_default", "translate_greedy"):
        expected = reference(saved["translation"], signature, source=sources)
        served = predict(port, "translation", {"signature_name": signature, "inputs": sources})
        assert same(served["outputs"]["translation"], expected["translation"])
        assert same(served["outputs"]["score"], expected["score"])


def test_forecasting_answers_like_the_saved_model(server, saved, runs):
    _, port, _ = server
    info = json.loads((runs["forecasting"] / "info.json").read_text(encoding="utf-8"))
    shape = (2, info["lookback"], len(info["feature_names"]))
    rng = np.random.default_rng(0)
    windows = (np.array(info["mean"]) + rng.normal(size=shape) * np.array(info["std"])).astype(
        np.float32
    )
    expected = reference(saved["forecasting"], "serving_default", window=windows)
    served = predict(port, "forecasting", {"instances": windows.tolist()})["predictions"]
    assert np.asarray(served).shape == np.asarray(expected["forecast"]).shape
    assert same(served, expected["forecast"])


def test_charlm_answers_like_the_saved_model(server, saved):
    _, port, _ = server
    # Greedy generation (temperature 0) and seeded sampling are deterministic.
    inputs = {"prime": ["ROMEO:", ""], "length": 12, "temperature": 0.0}
    expected = reference(saved["charlm"], "generate", **inputs)
    served = predict(port, "charlm", {"signature_name": "generate", "inputs": inputs})
    assert served == {"outputs": expected}
    inputs = {"prime": ["JULIET:"], "length": 10, "temperature": 1.0, "top_k": 3, "seed": 5}
    expected = reference(saved["charlm"], "sample", **inputs)
    served = predict(port, "charlm", {"signature_name": "sample", "inputs": inputs})
    assert served == {"outputs": expected}
    assert served["outputs"]["text"][0].startswith("JULIET:")


def test_concurrent_requests_answer_like_sequential_ones(server):
    _, port, _ = server
    texts = [f"sentence number {i} about Paris and London" for i in range(16)]
    alone = {t: predict(port, "ner", {"instances": [t]})["predictions"][0] for t in texts}
    results, errors = {}, []

    def client(part: list[str]) -> None:
        try:
            for text in part:
                results[text] = predict(port, "ner", {"instances": [text]})["predictions"][0]
        except Exception as err:  # surfaced below: an assert in a thread would be lost
            errors.append(err)

    threads = [threading.Thread(target=client, args=(texts[i::8] * 3,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == alone


# ------------------------------------------------------------------------------ status, metadata


def test_status_metadata_and_model_list(server, saved, runs):
    _, port, _ = server
    dtypes = {
        "string": "DT_STRING",
        "float32": "DT_FLOAT",
        "int32": "DT_INT32",
        "int64": "DT_INT64",
    }
    for task in TASKS:
        status, answer, _ = call(port, "GET", f"/v1/models/{task}")
        assert status == 200
        assert answer == {
            "model_version_status": [
                {
                    "version": "1",
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }
        assert call(port, "GET", f"/v1/models/{task}/versions/1")[1] == answer
        status, meta, _ = call(port, "GET", f"/v1/models/{task}/metadata")
        assert status == 200
        assert meta["model_spec"] == {"name": task, "signature_name": "", "version": "1"}
        defs = meta["metadata"]["signature_def"]["signature_def"]
        assert set(defs) - {"__saved_model_init_op"} == set(saved[task])
        for name, function in saved[task].items():
            for key, spec in function.structured_input_signature[1].items():
                entry = defs[name]["inputs"][key]
                assert entry["dtype"] == dtypes[spec.dtype.name]
                sizes = [int(d["size"]) for d in entry["tensor_shape"]["dim"]]
                assert sizes == [-1 if d is None else d for d in spec.shape.as_list()]
            assert set(defs[name]["outputs"]) == set(function.structured_outputs)
            assert defs[name]["method_name"] == "tensorflow/serving/predict"
    status, listed, _ = call(port, "GET", "/v1/models")
    models = {m["name"]: m for m in listed["models"]}
    assert list(models) == list(TASKS)
    assert {m["task"] for m in models.values()} == set(TASKS)
    assert models["sentiment"]["page"] == "/pages/sentiment.html"
    assert models["sentiment"]["run_dir"] == str(runs["sentiment"].resolve())
    assert models["sentiment"]["bounds"]["max_batch"] == MAX_BATCH
    assert models["sentiment"]["signatures"]["serving_default"]["inputs"] == {
        "text": {"dtype": "string", "shape": [-1]}
    }
    assert "vocabulary" not in models["sentiment"]["info"]  # large entries are left out
    assert (
        models["forecasting"]["info"]["lookback"]
        == models["forecasting"]["config"]["data"]["lookback"]
    )
    assert call(port, "GET", "/healthz")[:2] == (200, {"status": "ok", "models": list(TASKS)})


def test_pages_are_served(server):
    _, port, _ = server
    status, body, kind = call(port, "GET", "/")
    assert (status, body.decode("utf-8"), kind.split(";")[0]) == (
        200,
        PAGES["index.html"],
        "text/html",
    )
    status, body, _ = call(port, "GET", "/pages/app.js")
    assert (status, body.decode("utf-8")) == (200, PAGES["app.js"])


# ------------------------------------------------------------------------------ errors


def _window(runs, fill: float) -> list:
    info = json.loads((runs["forecasting"] / "info.json").read_text(encoding="utf-8"))
    window = np.zeros((1, info["lookback"], len(info["feature_names"])))
    window[0, -1, 0] = fill
    return window.tolist()


def test_errors_are_one_json_error_each(server, runs):
    _, port, _ = server
    predict_ = "/v1/models/{}:predict".format
    cases = [
        ("GET", "/v1/models/nope", None, 404, "model 'nope' not found"),
        ("POST", predict_("nope"), {"instances": ["x"]}, 404, "model 'nope' not found"),
        ("GET", "/v1/models/sentiment/versions/2", None, 404, "no version 2"),
        ("GET", "/pages/missing.html", None, 404, "not found"),
        ("POST", predict_("sentiment"), b'{"instances": ["a",', 400, "bad JSON"),
        ("POST", predict_("sentiment"), b'["a"]', 400, "expected a JSON object"),
        ("POST", predict_("sentiment"), {"text": ["a"]}, 400, '"instances"'),
        ("POST", predict_("sentiment"), {"instances": ["a"] * 5}, 413, "serve.max_batch"),
        ("POST", predict_("sentiment"), {"inputs": {"text": ["a"] * 5}}, 413, "serve.max_batch"),
        ("POST", predict_("sentiment"), {"instances": [1, 2]}, 400, "expected strings"),
        ("POST", predict_("sentiment"), {"inputs": {"txt": ["a"]}}, 400, "missing input 'text'"),
        ("POST", predict_("ner"), {"signature_name": "nope", "instances": ["a"]}, 400, "nope"),
        (
            "POST",
            predict_("ner"),
            {"signature_name": "tag_tokens", "inputs": [["a", "b"], ["c"]]},
            400,
            "ragged",
        ),
        (
            "POST",
            predict_("charlm"),
            {"inputs": {"prime": ["a"], "temperature": 1.0}},
            400,
            "missing input 'length'",
        ),
        (
            "POST",
            predict_("charlm"),
            {"inputs": {"prime": ["a"], "length": 1.5, "temperature": 1.0}},
            400,
            "integers",
        ),
        ("POST", predict_("charlm"), {"instances": ["a"]}, 400, "scalar"),
        ("POST", predict_("forecasting"), {"instances": [[[0.0]]]}, 400, "expected shape"),
        ("POST", predict_("forecasting"), {"instances": _window(runs, float("nan"))}, 400, "NaN"),
        ("POST", predict_("sentiment"), b" " * (MAX_BODY_MB * 1_000_000 + 1), 413, "--max-body-mb"),
    ]
    for method, path, body, status, words in cases:
        got, answer, kind = call(port, method, path, body)
        assert (got, kind) == (status, "application/json"), (path, body, answer)
        assert list(answer) == ["error"] and isinstance(answer["error"], str), answer
        assert "\n" not in answer["error"] and words in answer["error"], (path, answer)


def test_cli_errors_are_one_line(runs):
    empty = run_cli("serve")  # RUNS_DIR is an empty temporary directory
    assert empty.returncode == 1 and empty.stderr.startswith("error: no exported runs in")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = run_cli("serve", "--port", port, str(runs["sentiment"]))
    assert busy.returncode == 1 and "cannot listen on 127.0.0.1:" in busy.stderr
    twice = run_cli("serve", str(runs["ner"]), str(runs["ner"]))
    assert twice.returncode == 1 and "two models named 'ner'" in twice.stderr
    for result in (empty, busy, twice):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# ------------------------------------------------------------------------------ stopping


def test_sigterm_stops_it_cleanly(server):
    process, port, log = server
    call(port, "GET", "/healthz")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    lines = log.read_text(encoding="utf-8").splitlines()
    assert lines[-1] == "[serve] stopped (SIGTERM)"
    assert not [line for line in lines if quiet.is_noise(line) or "Traceback" in line]
    logged = [
        line for line in lines if re.fullmatch(r"\[serve\] [A-Z]+ /\S* \d{3} [\d.]+ ms", line)
    ]
    assert "[serve] GET /healthz 200" in "\n".join(logged)
    assert any(line.startswith("[serve] POST /v1/models/sentiment:predict 413 ") for line in logged)
