"""``python -m pipelines {train,evaluate,export,predict} <task> [options]``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipelines.registry import TASKS, UnknownTaskError, get_task

VERBS = ("train", "evaluate", "export", "predict")


def _parser(task=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    if task is not None:
        task.add_predict_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    head = [a for a in argv if not a.startswith("-")][:2]
    if len(head) == 2 and head[0] in VERBS and head[1] not in TASKS:
        print(
            f"error: unknown task {head[1]!r} (known tasks: {', '.join(sorted(TASKS))})",
            file=sys.stderr,
        )
        return 2
    task = get_task(head[1]) if len(head) == 2 and head[0] in VERBS else None
    args = _parser(task).parse_args(argv)
    try:
        return _run(task, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # one line for expected user errors, a traceback for bugs
        if not _is_user_error(err) or os.environ.get("PIPELINES_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1


def _is_user_error(err: Exception) -> bool:
    from data.sources import DataUnavailableError
    from data.text_classification import TextFormatError
    from pipelines.spine.config import ConfigError
    from pipelines.spine.run_dir import RunDirError

    return isinstance(
        err, ConfigError | DataUnavailableError | TextFormatError | RunDirError | UnknownTaskError
    ) or (isinstance(err, ValueError) and ": " in str(err) and "\n" not in str(err))


def _run(task, args) -> int:
    from pipelines.spine import runner
    from pipelines.spine.config import ConfigError, load_config
    from pipelines.spine.run_dir import CONFIG_FILE, PROJECT_ROOT, latest_run_dir

    if args.verb == "train":
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
            config_path = Path(args.config or PROJECT_ROOT / "configs" / f"{task.name}.yaml")
        cfg = load_config(task.config_class, config_path, overrides)
        runner.train(task, cfg, args.run_dir)
        return 0
    if args.overrides or args.config or args.data:
        raise ConfigError(f"{args.verb}: --config/--set/--data apply to train only")
    run_dir = args.run_dir or latest_run_dir(task.name)
    if args.verb == "evaluate":
        runner.evaluate(task, run_dir, args.split)
    elif args.verb == "export":
        runner.export(task, run_dir)
    else:
        runner.predict(task, run_dir, None, args)
    return 0
