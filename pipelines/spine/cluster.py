"""Where one training process stands in a multi-process run: its id, the process count and
the coordinator's address (``--process-id/--num-processes/--coordinator`` or the
``PIPELINES_*`` environment variables), and starting JAX's distributed runtime from it.

Nothing here imports TensorFlow or Keras: the runtime must start before Keras is imported.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

COORDINATOR_ENV = "PIPELINES_COORDINATOR"
NUM_PROCESSES_ENV = "PIPELINES_NUM_PROCESSES"
PROCESS_ID_ENV = "PIPELINES_PROCESS_ID"
# Set by the ``--workers`` launcher: the folder the other processes' copies go to (it removes
# the folder when they have exited, even after a kill).
SCRATCH_ENV = "PIPELINES_SCRATCH"
# Seconds a process waits for the others to join (jax.distributed's default is 5 min), for a
# silent peer before it is declared dead, and for the others at exit (default 5 min: a run
# whose peer died would sit that long after its error).
JOIN_TIMEOUT_SECONDS = 120
HEARTBEAT_TIMEOUT_SECONDS = 60
SHUTDOWN_TIMEOUT_SECONDS = 30


class ClusterError(ValueError):
    """Cluster options that cannot describe a run (one line naming the option)."""


@dataclass(frozen=True)
class Cluster:
    """This process in a data-parallel run of ``num_processes`` processes (process 0, the
    chief, is also the coordinator and the only one whose files are kept)."""

    num_processes: int = 1
    process_id: int = 0
    coordinator: str | None = None  # HOST:PORT of process 0; needed with more than one

    @classmethod
    def from_options(
        cls,
        coordinator: str | None,
        num_processes: int | None,
        process_id: int | None,
        env: Mapping[str, str] | None = None,
    ) -> Cluster:
        """The cluster the flags describe, each missing flag taken from its environment
        variable; one process when neither says anything. Raises :class:`ClusterError`."""
        env = os.environ if env is None else env
        coordinator = coordinator or env.get(COORDINATOR_ENV) or None
        count = _number(num_processes, env, NUM_PROCESSES_ENV, "--num-processes", 1)
        index = _number(process_id, env, PROCESS_ID_ENV, "--process-id", 0)
        if count < 1:
            raise ClusterError(f"--num-processes: {count} (at least 1)")
        if not 0 <= index < count:
            raise ClusterError(f"--process-id: {index} is not in 0..{count - 1}")
        if count > 1:
            if not coordinator:
                raise ClusterError(
                    f"--coordinator: needed with {count} processes "
                    f"(HOST:PORT of process 0, or set {COORDINATOR_ENV})"
                )
            host, _, port = coordinator.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ClusterError(f"--coordinator: {coordinator!r} is not HOST:PORT")
        return cls(count, index, coordinator if count > 1 else None)

    @property
    def is_chief(self) -> bool:
        return self.process_id == 0

    def start(self) -> None:
        """Starts JAX's distributed runtime (CPU collectives over gloo) so that the devices
        of every process form one mesh; a no-op for one process. Call before Keras is
        imported and before any JAX computation."""
        if self.num_processes == 1:
            return
        import jax

        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            self.coordinator,
            num_processes=self.num_processes,
            process_id=self.process_id,
            initialization_timeout=JOIN_TIMEOUT_SECONDS,
            heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_SECONDS,
            shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_SECONDS,
        )

    def exit_without_waiting(self, code: int) -> None:
        """Makes this process, once its error is printed, exit with ``code`` at once instead
        of waiting at JAX's shutdown barrier for peers that may be dead (it would wait
        ``SHUTDOWN_TIMEOUT_SECONDS`` and then abort with a stack dump). A no-op for one
        process."""
        if self.num_processes == 1:
            return

        def leave() -> None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

        atexit.register(leave)  # runs before JAX's own handler, registered earlier

    def scratch_dir(self) -> Path:
        """A new, empty folder for what this (non-chief) process writes: saving is collective
        under JAX, so it saves everything the chief saves, and the copies go here. Under the
        launcher's scratch folder when there is one, else a temporary folder."""
        root = os.environ.get(SCRATCH_ENV)
        if root:
            path = Path(root) / f"worker-{self.process_id}"
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            return path
        return Path(tempfile.mkdtemp(prefix=f"pipelines-worker-{self.process_id}-"))


def _number(flag: int | None, env: Mapping[str, str], name: str, option: str, default: int) -> int:
    if flag is not None:
        return flag
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ClusterError(f"{option}: {name}={raw!r} is not a whole number") from None
