"""Bad configs and overrides: each must end ``python -m pipelines train`` with one line,
``error: ...``, naming the key or file, before TensorFlow is imported (that last part is
recorded, not judged)."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import robustness_process as proc
from benchmarks.robustness_judge import one_line_error, shorten
from benchmarks.robustness_report import CaseResult

CONFIGS = proc.ROOT / "configs"
TIMEOUT = 60.0  # an accepted config trains a tiny run; a hang is killed here
# Without a config file of its own a case starts from the task's tiny config, one short epoch.
BASE_SETS = ("train.epochs=1", "train.steps_per_epoch=1", "train.validation_steps=1")


@dataclass(frozen=True)
class ConfigCase:
    """A bad config: ``task``, a config file made by ``make`` (None: the tiny config) or an
    existing ``path``, extra CLI arguments, and what the error line must name."""

    name: str
    task: str
    args: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    make: Callable[[str], bytes] | None = None  # tiny config text → the bad file's bytes
    path: str | None = None  # a config path as given (a directory, a missing file)
    mention_file: bool = False  # the error must name the config file
    extra: dict[str, str] = field(default_factory=dict)


def _tiny(task: str) -> str:
    return (CONFIGS / f"{task}_tiny.yaml").read_text(encoding="utf-8")


def _replace(old: str, new: str) -> Callable[[str], bytes]:
    def make(text: str) -> bytes:
        if old not in text:
            raise AssertionError(f"tiny config lacks {old!r}")  # the suite's own bug
        return text.replace(old, new, 1).encode("utf-8")

    return make


def _append(extra: str) -> Callable[[str], bytes]:
    return lambda text: (text + extra).encode("utf-8")


def _raw(data: bytes) -> Callable[[str], bytes]:
    return lambda _text: data


def _alias_bomb(levels: int = 9, width: int = 9) -> bytes:
    """A YAML "billion laughs": ``width ** levels`` leaves from a few hundred bytes."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    body = "\n  ".join(lines)
    return f"task: translation\nbomb:\n  {body}\n".encode()


def _sets(*pairs: str) -> tuple[str, ...]:
    return tuple(arg for pair in pairs for arg in ("--set", pair))


def cases() -> list[ConfigCase]:
    """Every bad config, across the six tasks."""
    c = ConfigCase
    return [
        # --- files -------------------------------------------------------------------------
        c("duplicate top-level key", "charlm", make=_append("seed: 8\n"), mentions=("seed",)),
        c(
            "duplicate nested key",
            "charlm",
            make=_replace("  window: 16\n", "  window: 16\n  window: 32\n"),
            mentions=("window",),
        ),
        c(
            "learning_rate: .nan in the file",
            "charlm",
            make=_replace("learning_rate: 0.01", "learning_rate: .nan"),
            mentions=("learning_rate",),
        ),
        c(
            "learning_rate: .inf in the file",
            "forecasting",
            make=_replace("  batch_size: 16\n", "  batch_size: 16\n  learning_rate: .inf\n"),
            mentions=("learning_rate",),
        ),
        c(
            "epochs: 1.0e+23 in the file",
            "ner",
            make=_replace("epochs: 2", "epochs: 1.0e+23"),
            mentions=("epochs",),
        ),
        c("--config is a directory", "sentiment", path="{tmp}/a_directory", mention_file=True),
        c(
            "config not UTF-8",
            "pos",
            make=lambda text: b"# caf\xe9 \xff\n" + text.encode("utf-8"),
            mention_file=True,
        ),
        c("empty config file", "translation", make=_raw(b""), mention_file=True),
        c("top level is a list", "sentiment", make=_raw(b"- task\n- seed\n"), mention_file=True),
        c("top level is a number", "forecasting", make=_raw(b"42\n"), mention_file=True),
        c("config file missing", "charlm", path="configs/no_such_config.yaml", mention_file=True),
        c("invalid YAML", "ner", make=_raw(b"task: ner\ntrain: {epochs: 1\n"), mention_file=True),
        c(
            "tab indentation",
            "pos",
            make=_raw(b"task: pos\ntrain:\n\tepochs: 1\n"),
            mention_file=True,
        ),
        c(
            "task of another config",
            "sentiment",
            make=_replace("task: sentiment", "task: ner"),
            mentions=("task",),
        ),
        c("YAML alias bomb", "translation", make=_raw(_alias_bomb()), mentions=("bomb",)),
        # --- NaN, inf, absurd sizes ------------------------------------------------------------
        c(
            "learning_rate NaN",
            "sentiment",
            _sets("train.learning_rate=.nan"),
            ("train.learning_rate",),
        ),
        c("clipnorm inf", "pos", _sets("train.clipnorm=.inf"), ("train.clipnorm",)),
        c(
            "learning_rate -inf",
            "translation",
            _sets("train.learning_rate=-.inf"),
            ("train.learning_rate",),
        ),
        c(
            "epochs 10^23 (integer)",
            "forecasting",
            _sets(f"train.epochs={10**23}"),
            ("train.epochs",),
        ),
        c("epochs 1e23 (text)", "sentiment", _sets("train.epochs=1e23"), ("train.epochs",)),
        c("monitor val_bogus", "sentiment", _sets("train.monitor=val_bogus"), ("train.monitor",)),
        c(
            "monitor not logged by the task",
            "charlm",
            _sets("train.monitor=val_f1"),
            ("train.monitor",),
        ),
        c("rnn units 10^8", "sentiment", _sets("model.rnn.units=100000000"), ("model",)),
        c("embedding 10^8", "charlm", _sets("model.embedding_dim=100000000"), ("model",)),
        c("encoder units 10^7", "translation", _sets("model.encoder.units=10000000"), ("model",)),
        # --- unknown keys at every level -------------------------------------------------------
        c("unknown top-level key", "ner", _sets("bogus=1"), ("bogus",)),
        c("unknown data key", "ner", _sets("data.bogus=1"), ("data.bogus",)),
        c("unknown model.rnn key", "pos", _sets("model.rnn.bogus=1"), ("model.rnn.bogus",)),
        c("unknown train key", "forecasting", _sets("train.bogus=1"), ("train.bogus",)),
        c("unknown serve key", "sentiment", _sets("serve.bogus=1"), ("serve.bogus",)),
        c("unknown sampling key", "charlm", _sets("sampling.bogus=1"), ("sampling.bogus",)),
        c("unknown decoding key", "translation", _sets("decoding.bogus=1"), ("decoding.bogus",)),
        # --- wrong types -----------------------------------------------------------------------
        c("epochs not a number", "sentiment", _sets("train.epochs=abc"), ("train.epochs",)),
        c("batch_size 2.5", "pos", _sets("train.batch_size=2.5"), ("train.batch_size",)),
        c(
            "boolean 'maybe'",
            "translation",
            _sets("train.tensorboard=maybe"),
            ("train.tensorboard",),
        ),
        c("list given a string", "forecasting", _sets("data.targets=TEMP"), ("data.targets",)),
        c(
            "list of int with text",
            "forecasting",
            _sets("model.conv_filters=[4, x]"),
            ("model.conv_filters",),
        ),
        c("seed null", "charlm", _sets("seed=null"), ("seed",)),
        # --- out of range ----------------------------------------------------------------------
        c("epochs 0", "ner", _sets("train.epochs=0"), ("train.epochs",)),
        c("batch_size -1", "sentiment", _sets("train.batch_size=-1"), ("train.batch_size",)),
        c("dropout 1.5", "pos", _sets("model.rnn.dropout=1.5"), ("model.rnn.dropout",)),
        c(
            "validation_fraction 0.9",
            "sentiment",
            _sets("data.validation_fraction=0.9"),
            ("data.validation_fraction",),
        ),
        c("serve.max_batch 0", "charlm", _sets("serve.max_batch=0"), ("serve.max_batch",)),
        c(
            "ema_momentum 1.5",
            "translation",
            _sets("train.ema_momentum=1.5"),
            ("train.ema_momentum",),
        ),
        c("rnn layers 17", "ner", _sets("model.rnn.layers=17"), ("model.rnn.layers",)),
        c(
            "max_train_length 1",
            "translation",
            _sets("data.max_train_length=1"),
            ("data.max_train_length",),
        ),
        # --- --set syntax ----------------------------------------------------------------------
        c("--set without '='", "sentiment", ("--set", "train.epochs"), ("train.epochs",)),
        c("--set without a key", "ner", ("--set", "=3"), ("--set",)),
        c("--set empty key part", "pos", ("--set", "train..epochs=3"), ("train..epochs",)),
        c("--set unreadable value", "charlm", ("--set", "train.epochs=[1"), ("train.epochs",)),
        c("--set a section to a number", "forecasting", ("--set", "train=3"), ("train",)),
        c("--set below a value", "translation", ("--set", "train.epochs.x=1"), ("train.epochs",)),
        c("--data not a source", "ner", ("--data", "web"), ("--data",)),
        # --- choices -----------------------------------------------------------------------------
        c(
            "cell transformer",
            "sentiment",
            _sets("model.rnn.cell=transformer"),
            ("model.rnn.cell",),
        ),
        c("optimizer adamax", "ner", _sets("train.optimizer=adamax"), ("train.optimizer",)),
        c("source web", "pos", _sets("data.source=web"), ("data.source",)),
        c("mode random", "charlm", _sets("data.mode=random"), ("data.mode",)),
        c("attention dot", "translation", _sets("model.attention=dot"), ("model.attention",)),
        c(
            "architecture tcn",
            "forecasting",
            _sets("model.architecture=tcn"),
            ("model.architecture",),
        ),
        c(
            "time_features week",
            "forecasting",
            _sets("data.time_features=[week]"),
            ("data.time_features",),
        ),
        # --- rules across keys -------------------------------------------------------------------
        c(
            "bidirectional char LM",
            "charlm",
            _sets("model.rnn.bidirectional=true"),
            ("model.rnn.bidirectional",),
        ),
        c(
            "recurrent_dropout with ln_lstm",
            "sentiment",
            _sets("model.rnn.cell=ln_lstm", "model.rnn.recurrent_dropout=0.2"),
            ("model.rnn.recurrent_dropout",),
        ),
        c(
            "mirrored stateful char LM",
            "charlm",
            _sets("train.strategy=mirrored"),
            ("train.strategy",),
        ),
        c("season shorter than delay", "forecasting", _sets("data.season=1"), ("data.season",)),
        c("two split fractions", "forecasting", _sets("data.split=[0.5, 0.5]"), ("data.split",)),
    ]


def _command(case: ConfigCase, tmp: Path) -> tuple[list[str], list[str]]:
    """(CLI arguments after ``train <task>``, what the error must name)."""
    mentions = list(case.mentions)
    if case.make is not None:
        slug = re.sub(r"[^a-z0-9]+", "_", case.name.lower()).strip("_")
        path = tmp / f"{case.task}_{slug}.yaml"
        path.write_bytes(case.make(_tiny(case.task)))
        config, sets = str(path), []
    elif case.path is not None:
        config, sets = case.path.format(tmp=tmp), []
        if "{tmp}" in case.path:
            Path(config).mkdir(parents=True, exist_ok=True)
    else:
        config = str(CONFIGS / f"{case.task}_tiny.yaml")
        sets = list(_sets(*BASE_SETS))
    if case.mention_file:
        mentions.append(Path(config).name)
    return ["--config", config, *sets, *case.args], mentions


def run(tmp: Path, tasks: Sequence[str] | None, say: Callable[[str], None]) -> list[CaseResult]:
    """Runs every case (of ``tasks``) in its own ``python -m pipelines train`` process."""
    tmp.mkdir(parents=True, exist_ok=True)
    selected = [case for case in cases() if tasks is None or case.task in tasks]
    results = []
    for i, case in enumerate(selected, start=1):
        args, mentions = _command(case, tmp)
        probe = tmp / f"probe_{i}.txt"
        env = proc.child_env(tmp / "runs", case.extra)
        started = time.perf_counter()
        done = proc.run(proc.cli_with_module_probe(probe, "train", case.task, *args), env, TIMEOUT)
        seconds = time.perf_counter() - started
        verdict = one_line_error(done.returncode, done.stderr, mentions)
        what = verdict.what if not done.killed else f"{done.killed}; {verdict.what}"
        imported = probe.read_text() == "True" if probe.exists() else None
        results.append(
            CaseResult(
                category="configs",
                name=case.name,
                task=case.task,
                passed=verdict.passed,
                what=what,
                seconds=round(seconds, 2),
                details={
                    "command": "python -m pipelines train " + " ".join([case.task, *args]),
                    "must_name": mentions,
                    "exit_status": done.returncode,
                    "tensorflow_imported": imported,
                    "stderr_head": [shorten(line, 200) for line in done.stderr.splitlines()[:3]],
                },
            )
        )
        mark = "ok  " if verdict.passed else "FAIL"
        say(
            f"configs {i}/{len(selected)} {mark} {case.task}: {case.name} ({seconds:.1f} s): {what}"
        )
    return results


if __name__ == "__main__":  # a listing, for reading the cases
    for case in cases():
        print(f"{case.task:<12} {case.name}", file=sys.stdout)
