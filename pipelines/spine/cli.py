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
from pipelines.spine import backend, quiet

VERBS = ("train", "evaluate", "export", "predict")

# Verbs that do not take a task: verb → the module whose ``main(argv) -> int`` runs it, imported
# on demand. Each parses its own options (one ``error:`` line on a mistake, like the rest).
TOOL_VERBS: dict[str, str] = {
    "serve": "pipelines.server.serve_cli",
    "prepare-tfds": "data.tfds_prepare",
}


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
        "--data",
        choices=("sample", "files", "tfds", "stream"),
        help="data source (sets data.source; stream: char LM and translation)",
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
        help="override a config key, e.g. --set train.epochs=1 (repeatable; evaluate: data.* "
        "keys, e.g. --set data.test_path=FILE scores the run on another file)",
    )
    parser.add_argument(
        "--split", default="test", choices=("test", "validation"), help="evaluate: which split"
    )
    parser.add_argument(
        "--format",
        default="savedmodel",
        choices=("savedmodel", "onnx", "tflite"),
        help="export: a SavedModel (strings in and out), or the numeric core as ONNX or "
        "TFLite in <run>/export_<format>/",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="train: N local processes of one data-parallel run (JAX backend); "
        "train.batch_size is the global batch",
    )
    parser.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="train on a cluster: process 0's address (or PIPELINES_COORDINATOR)",
    )
    parser.add_argument(
        "--num-processes",
        type=int,
        metavar="N",
        help="train on a cluster: processes in the run (or PIPELINES_NUM_PROCESSES)",
    )
    parser.add_argument(
        "--process-id",
        type=int,
        metavar="I",
        help="train on a cluster: this process, 0..N-1; 0 writes the run directory "
        "(or PIPELINES_PROCESS_ID)",
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
    args.argv = argv  # what --workers starts each worker with
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


def _load_task(name: str, verbose: bool, keras_backend: str = backend.SERVING) -> Any:
    """The task ``name``, TensorFlow and Keras (on ``keras_backend``; evaluate, export and
    predict run on TensorFlow) imported quietly unless ``verbose``."""
    backend.select_backend(keras_backend)  # before Keras is first imported
    quiet.load_tensorflow(verbose)
    if keras_backend != "tensorflow":
        backend.keep_tensorflow_off_accelerators()  # tf.data only
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


def _train_setup(args: argparse.Namespace) -> tuple[Any, Any]:
    """The training config and this process's place in the run (a ``Cluster``). With
    ``--workers`` or more than one process the run is data-parallel on JAX: a new run records
    ``train.backend: jax`` and ``train.distribution: data_parallel`` in its config; a resumed
    one must have been data-parallel already."""
    from pipelines.spine.cluster import Cluster, ClusterError
    from pipelines.spine.config import ConfigError
    from pipelines.spine.run_dir import CONFIG_FILE

    cluster = Cluster.from_options(args.coordinator, args.num_processes, args.process_id)
    if args.workers is not None:
        if args.workers < 1:
            raise ClusterError(f"--workers: {args.workers} (at least 1)")
        if cluster.num_processes > 1:
            raise ClusterError(
                "--workers: starts its own local processes; drop --coordinator/"
                "--num-processes/--process-id (and the PIPELINES_* variables)"
            )
    processes = args.workers or cluster.num_processes
    # --workers 1 or --num-processes 1 still ask for a data-parallel run (of one process).
    if args.workers is None and args.num_processes is None and processes == 1:
        return train_config(args), cluster
    resume = args.run_dir is not None and (args.run_dir / CONFIG_FILE).is_file()
    if resume:
        cfg = train_config(args)
        if cfg.train.distribution != "data_parallel":
            raise ConfigError(
                f"{args.run_dir}: this run trains with train.distribution: "
                f"{cfg.train.distribution}; resume it without --workers/--num-processes"
            )
    else:
        implied = ["train.backend=jax", "train.distribution=data_parallel"]
        cfg = train_config(
            argparse.Namespace(**{**vars(args), "overrides": [*implied, *args.overrides]})
        )
    if cfg.train.batch_size % processes:
        raise ConfigError(
            f"train.batch_size: {cfg.train.batch_size} is the global batch and does not split "
            f"over {processes} processes; use a multiple of {processes}"
        )
    return cfg, cluster


def _run(args: argparse.Namespace, task: Any, verbose: bool) -> int:
    from pipelines.spine.config import ConfigError

    if args.verb == "train":
        cfg, cluster = _train_setup(args)  # every config error is raised here, before TensorFlow
        if args.workers is not None:
            from pipelines.spine.launcher import launch

            return launch(args.argv, args.workers)
        backend.select_backend(cfg.train.backend)
        cluster.start()  # before Keras is imported
        task = _load_task(args.task, verbose, cfg.train.backend)
        from pipelines.spine import runner

        try:
            runner.train(task, cfg, args.run_dir, cluster)
        except BaseException as err:
            cluster.exit_without_waiting(130 if isinstance(err, KeyboardInterrupt) else 1)
            raise
        return 0
    cluster_options = (args.workers, args.coordinator, args.num_processes, args.process_id)
    if any(option is not None for option in cluster_options):
        raise ConfigError(
            f"{args.verb}: --workers/--coordinator/--num-processes/--process-id apply to train only"
        )
    overrides = [*([f"data.source={args.data}"] if args.data else []), *args.overrides]
    if args.config or (overrides and args.verb != "evaluate"):
        raise ConfigError(
            f"{args.verb}: --config/--set/--data apply to train (and --set data.*/--data to "
            f"evaluate) only"
        )
    if args.format != "savedmodel" and args.verb != "export":
        raise ConfigError(f"{args.verb}: --format applies to export only")
    from pipelines.spine.run_dir import CONFIG_FILE, latest_run_dir

    run_dir = args.run_dir or latest_run_dir(args.task)
    if overrides:  # checked before TensorFlow, like a training config
        from pipelines.spine.config import evaluation_overrides, load_config

        load_config(config_class(args.task), run_dir / CONFIG_FILE, evaluation_overrides(overrides))
    task = task or _load_task(args.task, verbose)
    from pipelines.spine import runner

    if args.verb == "evaluate":
        runner.evaluate(task, run_dir, args.split, overrides)
    elif args.verb == "export":
        if args.format == "savedmodel":
            runner.export(task, run_dir)
        else:
            from pipelines.spine.portable_export import export_portable

            export_portable(task, run_dir, args.format)
    else:
        runner.predict(task, run_dir, None, args)
    return 0
