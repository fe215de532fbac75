"""The web pages in a real browser (``make test-browser``; not part of ``make test``).

Tiny runs of every task are trained and exported once into ``runs/browser-test/<task>``
(reused while the code that makes them is unchanged), the real server is started on a free
127.0.0.1 port, and headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven
by Selenium) loads each page, submits an input and checks what it drew against the REST
API's answer for the same input.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs" / "browser-test"
TASKS = ("sentiment", "ner", "pos", "translation", "charlm", "forecasting")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SAMPLE_CSV = ROOT / "data" / "samples" / "forecasting" / "beijing_pm25_2014.csv.gz"
WAIT_S = 120  # a page's answer on a shared 2-core machine


def _code_stamp(task: str) -> str:
    """A hash of everything a tiny run's export depends on: code and its tiny config."""
    digest = hashlib.sha256()
    files = [ROOT / "configs" / f"{task}_tiny.yaml"]
    for folder in ("pipelines", "models", "data"):
        files += sorted(p for p in (ROOT / folder).rglob("*.py") if "server" not in p.parts)
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _cli(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, f"pipelines {' '.join(args)}:\n{result.stderr[-3000:]}"


def _tiny_run(task: str) -> Path:
    """``runs/browser-test/<task>``: trained and exported on the tiny config, or reused."""
    run_dir, stamp = RUNS / task, _code_stamp(task)
    stamp_file = run_dir / "browser_test_stamp.txt"
    if stamp_file.is_file() and stamp_file.read_text() == stamp:
        print(f"[browser-test] {task}: reusing {run_dir}", file=sys.stderr, flush=True)
        return run_dir
    shutil.rmtree(run_dir, ignore_errors=True)
    print(f"[browser-test] {task}: training and exporting a tiny run", file=sys.stderr, flush=True)
    config = str(ROOT / "configs" / f"{task}_tiny.yaml")
    _cli("train", task, "--config", config, "--run-dir", str(run_dir))
    _cli("export", task, "--run-dir", str(run_dir))
    stamp_file.write_text(stamp)
    return run_dir


@pytest.fixture(scope="module")
def runs() -> dict[str, Path]:
    with ThreadPoolExecutor(2) as pool:  # two at a time: one per core
        return dict(zip(TASKS, pool.map(_tiny_run, TASKS), strict=True))


@pytest.fixture(scope="module")
def server(runs):
    """The real server (``python -m pipelines serve``) on a free port; its base URL."""
    command = [sys.executable, "-m", "pipelines", "serve", "--port", "0"]
    command += [f"{task}={run_dir}" for task, run_dir in runs.items()]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    found: list[str] = []
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:  # keeps draining stderr so the server never blocks on it
        for line in process.stderr:
            lines.append(line)
            match = re.search(r"serving .* at (http://[^/ ]+/)", line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(300)
    if not found:
        process.kill()
        pytest.fail("the server did not start:\n" + "".join(lines[-40:]))
    yield found[0].rstrip("/")
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def api(base: str, model: str, body: dict) -> dict:
    """The REST API's columnar answer (``outputs``) for ``body``."""
    request = urllib.request.Request(
        f"{base}/v1/models/{model}:predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        return json.loads(response.read())["outputs"]


def submit(browser, form: str = "form") -> None:
    """Submits ``form`` and waits for the page to finish (body ``data-state``); fails with
    the page's error line if it shows one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.execute_script("document.body.dataset.state = 'submitted'")
    browser.find_element(By.CSS_SELECTOR, f"#{form} button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(
        lambda d: (
            d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error")
        )
    )


def state(browser) -> tuple[str, str]:
    from selenium.webdriver.common.by import By

    body = browser.find_element(By.TAG_NAME, "body").get_attribute("data-state")
    return body, browser.find_element(By.ID, "error").text


def type_into(browser, element_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    element = browser.find_element(By.ID, element_id)
    element.clear()
    element.send_keys(text)


def open_page(browser, server: str, path: str) -> None:
    browser.get(f"{server}{path}")


def iob2_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, type) of IOB2 tags, an I- tag not continuing its type starting a span."""
    spans, open_span = [], None
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = (tag[0], tag[2:]) if "-" in tag else (tag, None)
        if open_span and (prefix != "I" or kind != open_span[2]):
            spans.append(tuple(open_span))
            open_span = None
        if prefix in "BI" and kind and not open_span:
            open_span = [i, i + 1, kind]
        elif open_span:
            open_span[1] = i + 1
    return spans


def test_index_lists_every_served_model(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, server, "/")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done"
    )
    links = browser.find_elements(By.CSS_SELECTOR, "#models a")
    assert sorted(link.text for link in links) == sorted(TASKS)
    for link in links:
        assert link.get_attribute("href").endswith(f"/pages/{link.text}.html?model={link.text}")


def test_sentiment_bar_is_the_probability(browser, server):
    review = "A moving, beautifully acted film. I loved it."
    open_page(browser, server, "/pages/sentiment.html")
    type_into(browser, "input", review)
    submit(browser)
    assert state(browser) == ("done", "")
    expected = api(server, "sentiment", {"inputs": {"text": [review]}})["probability"][0]
    fraction = browser.execute_script(
        "const bar = document.getElementById('bar');"
        "return bar.getBoundingClientRect().width / bar.parentElement.clientWidth;"
    )
    assert fraction == pytest.approx(expected, abs=0.005)
    assert browser.find_element("id", "probability").text == f"{expected:.3f}"


def _mark_words(mark) -> list[str]:
    from selenium.webdriver.common.by import By

    return mark.find_element(By.CLASS_NAME, "text").text.split()


def _words_shown(browser) -> list[str]:
    """The NER result's words, without the type labels the marks add: every word once, in
    order."""
    script = (
        "const copy = document.getElementById('result').cloneNode(true);"
        "copy.querySelectorAll('sub').forEach((label) => label.remove());"
        "return copy.textContent;"
    )
    return browser.execute_script(script).split()


def test_ner_highlights_the_entities_the_api_tags(browser, server):
    from selenium.webdriver.common.by import By

    sentence = "EU rejects German call to boycott British lamb ."
    open_page(browser, server, "/pages/ner.html")
    type_into(browser, "input", sentence)
    submit(browser)
    assert state(browser) == ("done", "")
    out = api(server, "ner", {"inputs": {"sentences": [sentence]}})
    tags = out["tags"][0].split()
    assert len(tags) == out["num_tokens"][0] == 9
    marks = browser.find_elements(By.CSS_SELECTOR, "#result mark.entity")
    shown = [
        (int(m.get_attribute("data-start")), int(m.get_attribute("data-end")),
         m.get_attribute("data-type"))
        for m in marks
    ]  # fmt: skip
    assert shown == iob2_spans(tags)
    words = sentence.split()
    for mark, (start, end, kind) in zip(marks, shown, strict=True):
        assert _mark_words(mark) == words[start:end]
        assert mark.find_element(By.TAG_NAME, "sub").text == kind
    assert _words_shown(browser) == words


def test_ner_page_draws_every_kind_of_span(browser, server):
    from selenium.webdriver.common.by import By

    # A tiny model rarely tags an entity, so this answer is given to the page (its one REST
    # call replaced) to check the drawing: a B-I span, a single B, an I- starting a span, and
    # a B right after a span of another type.
    open_page(browser, server, "/pages/ner.html")
    tags = "B-PER I-PER O B-LOC O I-ORG B-MISC I-MISC O"
    browser.execute_script(
        "App.predict = async () => ({tags: [arguments[0]], num_tokens: [9]});", tags
    )
    sentence = "Peter Blackburn met Paris in EU German lamb ."
    type_into(browser, "input", sentence)
    submit(browser)
    assert state(browser) == ("done", "")
    marks = browser.find_elements(By.CSS_SELECTOR, "#result mark.entity")
    shown = [(_mark_words(m), m.get_attribute("data-type")) for m in marks]
    assert shown == [
        (["Peter", "Blackburn"], "PER"),
        (["Paris"], "LOC"),
        (["EU"], "ORG"),
        (["German", "lamb"], "MISC"),
    ]
    assert iob2_spans(tags.split()) == [(0, 2, "PER"), (3, 4, "LOC"), (5, 6, "ORG"), (6, 8, "MISC")]
    assert _words_shown(browser) == sentence.split()


def test_pos_puts_one_tag_under_each_word(browser, server):
    from selenium.webdriver.common.by import By

    sentence = "The cat sat on the mat ."
    open_page(browser, server, "/pages/pos.html")
    type_into(browser, "input", sentence)
    submit(browser)
    assert state(browser) == ("done", "")
    words = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#result tr.word td")]
    tags = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#result tr.tag td")]
    assert words == sentence.split()
    expected = api(server, "pos", {"inputs": {"sentences": [sentence]}})["tags"][0].split()
    assert tags == expected and len(tags) == len(words)


def test_translation_text_and_attention_heatmap(browser, server):
    from selenium.webdriver.common.by import By

    source = "¿Dónde está la estación?"
    open_page(browser, server, "/pages/translation.html")
    type_into(browser, "input", source)
    submit(browser)
    assert state(browser) == ("done", "")
    translated = api(server, "translation", {"inputs": {"source": [source]}})
    assert browser.find_element(By.ID, "translation").text == translated["translation"][0].strip()
    attention = api(server, "translation", {"signature_name": "attention",
                                            "inputs": {"source": [source]}})  # fmt: skip
    source_tokens = [t for t in attention["source_tokens"][0] if t]
    target_tokens = [t for t in attention["target_tokens"][0] if t]
    assert source_tokens == ["¿", "Dónde", "está", "la", "estación", "?"]
    cells = browser.find_elements(By.CSS_SELECTOR, "#attention rect.cell")
    assert len(cells) == len(target_tokens) * len(source_tokens) > 0
    shown = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#attention .source-token")]
    assert shown == source_tokens
    rows = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#attention .target-token")]
    assert rows == target_tokens
    weights = attention["weights"][0]
    for cell in cells[:: max(1, len(cells) // 7)]:
        i, j = int(cell.get_attribute("data-row")), int(cell.get_attribute("data-column"))
        assert float(cell.get_attribute("fill-opacity")) == pytest.approx(weights[i][j], abs=1e-6)


def test_charlm_generates_from_the_prime_within_bounds(browser, server):
    from selenium.webdriver.common.by import By

    prime = "ROMEO:"
    open_page(browser, server, "/pages/charlm.html")
    type_into(browser, "input", prime)
    type_into(browser, "length", "40")
    type_into(browser, "temperature", "0.5")
    submit(browser)
    assert state(browser) == ("done", "")
    result = browser.find_element(By.ID, "result")
    text = result.get_attribute("data-text")
    assert text.startswith(prime) and len(text) == len(prime) + 40
    assert result.find_element(By.CLASS_NAME, "prime").text == prime
    # Greedy (temperature 0) is deterministic: the page shows what the API returns.
    type_into(browser, "temperature", "0")
    submit(browser)
    greedy = api(
        server,
        "charlm",
        {
            "signature_name": "generate",
            "inputs": {"prime": [prime], "length": 40, "temperature": 0},
        },
    )
    assert result.get_attribute("data-text") == greedy["text"][0]  # fmt: skip
    # Out of bounds: one line naming the input, no call.
    type_into(browser, "length", "999999")
    submit(browser)
    assert state(browser) == ("error", "length: a number from 0 to 2000")


def _series(browser) -> dict[str, list[float]]:
    from selenium.webdriver.common.by import By

    groups = browser.find_elements(By.CSS_SELECTOR, "#forecast-plot g.series")
    return {
        g.get_attribute("data-name"): json.loads(g.get_attribute("data-values")) for g in groups
    }


def test_forecasting_sample_and_csv_upload_plot_forecast_and_baselines(
    browser, server, runs, tmp_path
):
    open_page(browser, server, "/pages/forecasting.html")
    submit(browser, "sample-form")
    assert state(browser) == ("done", "")
    series = _series(browser)
    assert set(series) == {"history", "forecast", "persistence", "seasonal"}
    sample = api(server, "forecasting", {"signature_name": "sample_rows",
                                         "inputs": {"offset": [0]}})  # fmt: skip
    out = api(server, "forecasting", {"signature_name": "forecast_rows",
                                      "inputs": {"rows": sample["rows"]}})  # fmt: skip
    for name in ("forecast", "persistence", "seasonal"):  # target 0 (TEMP), horizon 2
        assert series[name] == pytest.approx([step[0] for step in out[name][0]], abs=1e-5)
    temp = sample["feature_names"][0].index("TEMP")
    assert series["history"] == pytest.approx([row[temp] for row in sample["rows"][0]])

    assert "actual" not in series  # nothing after the newest row is known

    # Four rows back (delay 3 + horizon 2 - 1): what happened at both forecast steps is drawn.
    type_into(browser, "offset", "4")
    submit(browser, "sample-form")
    assert state(browser) == ("done", "")
    back = _series(browser)
    assert back["actual"] == pytest.approx([row[temp] for row in sample["rows"][0][-2:]])
    earlier = api(server, "forecasting", {"signature_name": "sample_rows",
                                          "inputs": {"offset": [4]}})  # fmt: skip
    assert earlier["times"][0][-1] == sample["times"][0][-5]
    assert back["history"] == pytest.approx([row[temp] for row in earlier["rows"][0]])

    # The same newest rows uploaded as CSV (the bundled file's own columns) give the same plot.
    lines = gzip.decompress(SAMPLE_CSV.read_bytes()).decode().splitlines()
    upload = tmp_path / "recent.csv"
    upload.write_text("\n".join([lines[0], *lines[-30:]]) + "\n")
    browser.find_element("id", "csv").send_keys(str(upload))
    submit(browser, "csv-form")
    assert state(browser) == ("done", "")
    uploaded = _series(browser)
    for name in ("forecast", "persistence", "seasonal", "history"):
        assert uploaded[name] == pytest.approx(series[name], abs=1e-4)

    # A missing value inside a column is filled as training fills it: the same forecast as
    # `predict forecasting` on the same file.
    cells = [line.split(",") for line in lines[-30:]]
    cells[-10][lines[0].split(",").index("pm2.5")] = ""
    gap = tmp_path / "gap.csv"
    gap.write_text("\n".join([lines[0], *(",".join(row) for row in cells)]) + "\n")
    browser.find_element("id", "csv").send_keys(str(gap))
    submit(browser, "csv-form")
    assert state(browser) == ("done", "")
    predicted = subprocess.run(
        [sys.executable, "-m", "pipelines", "predict", "forecasting", "--run-dir",
         str(runs["forecasting"]), "--input", str(gap)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    records = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert _series(browser)["forecast"] == pytest.approx([r["TEMP"] for r in records], abs=1e-3)

    # A CSV without a training column: one line naming the file and the column.
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(line.rsplit(",", 1)[0] for line in [lines[0], *lines[-30:]]))
    browser.find_element("id", "csv").send_keys(str(broken))
    submit(browser, "csv-form")
    body, error = state(browser)
    assert body == "error" and error.startswith("broken.csv: column '")
