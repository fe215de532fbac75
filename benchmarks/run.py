"""``make bench-<task>``: train the full config on the real data, evaluate on the test split,
and write ``benchmarks/results/<task>.json``. Never edit those files by hand."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@dataclasses.dataclass(frozen=True)
class Benchmark:
    config: str
    dataset: str
    metric: str  # key in metrics.json
    goal: float
    higher_is_better: bool
    split: str = "test"


BENCHMARKS = {
    "ner": Benchmark(
        config="configs/ner.yaml",
        dataset="CoNLL-2003 English NER (Tjong Kim Sang & De Meulder 2003), DATA_ROOT/conll2003; "
        "14,041 train / 3,250 dev (checkpoint by entity F1) / 3,453 test sentences; "
        "entity-level micro F1 (seqeval, conlleval rules), no pretrained embeddings",
        metric="f1",
        goal=0.87,
        higher_is_better=True,
    ),
    "forecasting": Benchmark(
        config="configs/forecasting.yaml",
        dataset="Beijing PM2.5 hourly 2010-2014 (UCI; Liang et al. 2015), "
        "DATA_ROOT/beijing_pm25/pollution.csv.gz; TEMP 24 h ahead from 120 h of all features; "
        "chronological split 50/25/25, scored on the 10,813 test windows",
        metric="mae",
        goal=2.35,
        higher_is_better=False,
    ),
    "sentiment": Benchmark(
        config="configs/sentiment.yaml",
        dataset="IMDB Large Movie Review v1 (Maas et al. 2011), DATA_ROOT/imdb; "
        "25,000 train (10% carved for validation, whole movies) / 25,000 test",
        metric="accuracy",
        goal=0.90,
        higher_is_better=True,
    ),
    "charlm": Benchmark(
        config="configs/charlm.yaml",
        dataset="Tiny Shakespeare (karpathy/char-rnn), DATA_ROOT/tinyshakespeare/input.txt; "
        "90/5/5 split by characters as TFDS tiny_shakespeare (1,003,854 / 55,770 / 55,770)",
        metric="nats_per_char",
        goal=1.50,
        higher_is_better=False,
        split="validation",
    ),
    "translation": Benchmark(
        config="configs/translation.yaml",
        dataset="Tatoeba/manythings spa-eng (2018-05-13, CC BY 2.0 FR), "
        "DATA_ROOT/spa_eng/spa.txt.gz, Spanish→English; 118,964 pairs split 90/5/5 grouped by "
        "source sentence; cased sacreBLEU (13a) with beam search on the 5% test split",
        metric="bleu",
        goal=40.0,
        higher_is_better=True,
    ),
}


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def commit() -> str:
    """HEAD, marked ``-dirty`` when tracked code differs from it (results files aside)."""
    head = _git("rev-parse", "HEAD")
    changed = [
        line
        for line in _git("status", "--porcelain", "--untracked-files=no").splitlines()
        if "benchmarks/results/" not in line
    ]
    return head + ("-dirty" if changed else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("task", choices=sorted(BENCHMARKS))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)

    from pipelines.registry import get_task
    from pipelines.spine import runner
    from pipelines.spine.config import load_config, to_dict

    bench = BENCHMARKS[args.task]
    task = get_task(args.task)
    cfg = load_config(
        task.config_class, ROOT / bench.config, ["data.source=files", *args.overrides]
    )
    started = time.perf_counter()
    run_dir = runner.train(task, cfg)
    validation = runner.evaluate(task, run_dir, "validation")
    test = runner.evaluate(task, run_dir, "test")
    total = time.perf_counter() - started
    summary = json.loads((run_dir / "train_summary.json").read_text())
    # The headline split: test by default; validation where the task's goal is stated on it.
    value = (validation if bench.split == "validation" else test)[bench.metric]
    met = value >= bench.goal if bench.higher_is_better else value <= bench.goal
    command = "python -m benchmarks.run " + " ".join(
        [args.task, *(f"--set {o}" for o in args.overrides)]
    )
    result = {
        "task": args.task,
        "dataset": bench.dataset,
        "split": bench.split,
        "metric": bench.metric,
        "value": value,
        "goal": bench.goal,
        "higher_is_better": bench.higher_is_better,
        "goal_met": met,
        "train_seconds": summary["train_seconds"],
        "total_seconds": round(total, 1),
        "examples_per_second": summary["examples_per_second"],
        "command": command,
        "commit": commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
        "run_dir": str(run_dir.relative_to(ROOT)) if run_dir.is_relative_to(ROOT) else str(run_dir),
        "test_metrics": test,
        "validation_metrics": validation,
        "training": {k: v for k, v in summary.items() if k != "history"},
        "history": summary["history"],
        "config": to_dict(cfg),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.task}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    verdict = "meets" if met else "does not meet"
    print(
        f"{args.task}: {bench.split} {bench.metric} = {value:.4f} ({verdict} goal {bench.goal}); "
        f"{total / 60:.1f} min; wrote {out.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
