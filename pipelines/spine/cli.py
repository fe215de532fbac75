"""``python -m pipelines {train,evaluate,export,predict} <task> [options]``.

A config is read and fully checked before TensorFlow is imported (the config classes do not
import it), so a bad config fails in about a second with one ``error:`` line. Only then is the
task loaded. ``predict`` is the exception: its options depend on the task, so the task loads
before its arguments are parsed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from pipelines.registry import TASKS, UnknownTaskError, config_class, get_task
from pipelines.spine import quiet

VERBS = ("train", "evaluate", "export", "predict")

# Verbs that do not take a task: verb → the module whose ``main(argv) -> int`` runs it, imported
# on demand. Each parses its own options (one ``error:`` line on a mistake, like the rest).
TOOL_VERBS: dict[str, str] = {}


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes as one ``error:`` line, like every other error (``--help`` shows the
    usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (python -m pipelines --help)\n")


def _parser(task=None) -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m pipelines",
        description="Train, evaluate, export and serve recurrent-network task pipelines.",
    )
    parser.add_argument("verb", choices=VERBS)
    parser.add_argument("task", help=f"one of: {', '.join(sorted(TASKS))}")
    parser.add_argument("--config", help="YAML config (train; default configs/<task>.yaml)")
    parser.add_argument(
        "--data", choices=("sample", "files", "tfds"), help="data source (sets data.source)"
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        help="run directory (train: new one by default, an existing one resumes; "
        "other verbs: the latest run of the task by default)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.epochs=1 (repeatable)",
    )
    parser.add_argument(
        "--split", default="test", choices=("test", "validation"), help="evaluate: which split"
    )
    parser.add_argument(
        quiet.VERBOSE_FLAG,
        action="store_true",
        help=f"also show TensorFlow's own log lines (or set {quiet.VERBOSE_ENV}=1)",
    )
    if task is not None:
        task.add_predict_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = quiet.verbose_requested(argv)
    quiet.configure(verbose)  # before anything imports TensorFlow
    if argv[:1] and argv[0] in TOOL_VERBS:
        import importlib

        return importlib.import_module(TOOL_VERBS[argv[0]]).main(argv[1:])
    head = [a for a in argv if not a.startswith("-")][:2]
    if len(head) == 2 and head[0] in VERBS and head[1] not in TASKS:
        print(
            f"error: unknown task {head[1]!r} (known tasks: {', '.join(sorted(TASKS))})",
            file=sys.stderr,
        )
        return 2
    predict_task = None
    if head[:1] == ["predict"] and len(head) == 2:  # its options come from the task
        predict_task = _load_task(head[1], verbose)
    args = _parser(predict_task).parse_args(argv)
    try:
        return _run(args, predict_task, verbose)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # the machine's doing (permissions, a full disk), not a bug here
        if os.environ.get("PIPELINES_DEBUG"):
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except Exception as err:  # one line for expected user errors, a traceback for bugs
        if not _is_user_error(err) or os.environ.get("PIPELINES_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1


def _is_user_error(err: Exception) -> bool:
    from data.data_config_error import DataConfigError  # no TensorFlow behind these
    from data.data_format_error import DataFormatError
    from data.sources import DataUnavailableError
    from pipelines.spine.config import ConfigError
    from pipelines.spine.run_dir import RunDirError

    known = ConfigError | DataConfigError | DataFormatError | DataUnavailableError | RunDirError
    return isinstance(err, known | UnknownTaskError) or (
        isinstance(err, ValueError) and ": " in str(err) and "\n" not in str(err)
    )


def _load_task(name: str, verbose: bool) -> Any:
    """The task ``name``, TensorFlow and Keras imported quietly unless ``verbose``."""
    quiet.load_tensorflow(verbose)
    return get_task(name)


def train_config(args: argparse.Namespace) -> Any:
    """The checked config ``train`` runs with: ``--config`` (default ``configs/<task>.yaml``)
    with ``--data`` and ``--set``, or the saved config of the run being resumed. Raises
    :class:`ConfigError` naming the file or key; imports no TensorFlow."""
    from pipelines.spine.config import ConfigError, load_config
    from pipelines.spine.run_dir import CONFIG_FILE, PROJECT_ROOT

    overrides = list(args.overrides)
    if args.data:
        overrides.insert(0, f"data.source={args.data}")
    resume = args.run_dir is not None and (args.run_dir / CONFIG_FILE).is_file()
    if resume:
        if overrides or args.config:
            raise ConfigError(
                f"{args.run_dir}: resuming uses the run's saved config; "
                f"drop --config/--set/--data or choose a new --run-dir"
            )
        config_path = args.run_dir / CONFIG_FILE
    else:
        config_path = Path(args.config or PROJECT_ROOT / "configs" / f"{args.task}.yaml")
    return load_config(config_class(args.task), config_path, overrides)


def _run(args: argparse.Namespace, task: Any, verbose: bool) -> int:
    from pipelines.spine.config import ConfigError

    if args.verb == "train":
        cfg = train_config(args)  # every config error is raised here, before TensorFlow
        task = _load_task(args.task, verbose)
        from pipelines.spine import runner

        runner.train(task, cfg, args.run_dir)
        return 0
    if args.overrides or args.config or args.data:
        raise ConfigError(f"{args.verb}: --config/--set/--data apply to train only")
    from pipelines.spine.run_dir import latest_run_dir

    run_dir = args.run_dir or latest_run_dir(args.task)
    task = task or _load_task(args.task, verbose)
    from pipelines.spine import runner

    if args.verb == "evaluate":
        runner.evaluate(task, run_dir, args.split)
    elif args.verb == "export":
        runner.export(task, run_dir)
    else:
        runner.predict(task, run_dir, None, args)
    return 0
