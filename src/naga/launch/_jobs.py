"""What became of a sweep's Slurm jobs: ``squeue``, ``sacct`` where Slurm keeps accounting, and
the files submitit leaves in ``<sweep>/slurm/<job id>/``.

A job is identified by its id as Slurm prints it: ``<array id>_<index>`` for a task of a job
array, ``<job id>`` for a job of its own. A job still in ``squeue`` (pending, running, requeued,
completing) is *live*; one that left the queue has *ended* when submitit wrote its result file,
and is *lost* when it has none (killed, out of memory, node failure, cancelled while no sweep
watched it). ``sacct`` only adds the reason a lost job ended: many clusters, and the single-node
test cluster, keep no accounting, and ``sacct`` then says so (with exit status 0).

Nothing here imports submitit: the files are read with ``pickle``, so ``naga tasks`` works
wherever naga does. A result file is read with an unpickler that builds naga's outcome and plain
values only: a sweep folder someone shared may hold any pickle, and reading it must not run the
code that pickle names.
"""

from __future__ import annotations

import enum
import pickle
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from naga._paths import SLURM_DIR
from naga.launch._backend import Outcome, TaskStatus

__all__ = [
    "JobCheck",
    "JobState",
    "accounting_states",
    "check_jobs",
    "queue_states",
    "read_outcome",
    "result_file",
    "slurm_log",
]

#: States ``squeue`` may still show for a job that is over: it is not live any more.
_OVER = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "TIMEOUT",
    }
)
#: How submitit says a job was stopped by Slurm and not requeued (see ``_requeue``).
_NOT_REQUEUED = "UncompletedJobError"


class JobState(str, enum.Enum):
    """What a check found: the job is live, it ended (with an outcome), it is lost, or Slurm
    could not be asked (``squeue`` failed: never a reason to submit a task again)."""

    LIVE = "live"
    ENDED = "ended"
    LOST = "lost"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class JobCheck:
    """One job's fate.

    Attributes:
        job: Its id (``123_4``).
        state: :class:`JobState`.
        queue: Its state in ``squeue`` (``PENDING``, ``RUNNING``, ...) when live.
        outcome: How its task ended (``ENDED``), or why it is lost (``LOST``).
    """

    job: str
    state: JobState
    queue: str | None = None
    outcome: Outcome | None = None

    @property
    def running(self) -> bool:
        return self.state is JobState.LIVE and self.queue in ("RUNNING", "COMPLETING")


def job_folder(sweep_dir: Path, job: str) -> Path:
    """submitit's folder of ``job`` (``<sweep>/slurm/<job id>``)."""
    return Path(sweep_dir).resolve() / SLURM_DIR / job


def result_file(sweep_dir: Path, job: str) -> Path:
    """The pickle submitit writes when the job's function returns or raises."""
    return job_folder(sweep_dir, job) / f"{job}_0_result.pkl"


def slurm_log(sweep_dir: Path, job: str) -> Path:
    """The job's own stderr (submitit's and Slurm's messages; the task's output is in its log)."""
    return job_folder(sweep_dir, job) / f"{job}_0_log.err"


def queue_states(jobs: Iterable[str]) -> dict[str, str] | None:
    """``{job: state}`` of the ``jobs`` still in ``squeue``; None when ``squeue`` failed (Slurm
    unreachable, no ``squeue`` here): nothing can be said about them then."""
    arrays = sorted({job.split("_", 1)[0] for job in jobs})
    if not arrays:
        return {}
    try:
        done = subprocess.run(
            ["squeue", "-h", "-r", "-j", ",".join(arrays), "-o", "%i %T"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        # Asked about one job only, squeue fails when Slurm forgot it (ended a while ago).
        return {} if "Invalid job id" in done.stderr else None
    states = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] not in _OVER:
            states[parts[0]] = parts[1]
    return states


def accounting_states(jobs: Iterable[str]) -> dict[str, str]:
    """``{job: state}`` from ``sacct`` (``OUT_OF_MEMORY``, ``CANCELLED``, ...); empty where Slurm
    keeps no accounting."""
    wanted = sorted(set(jobs))
    if not wanted:
        return {}
    try:
        done = subprocess.run(
            ["sacct", "-n", "-P", "-X", "-j", ",".join(wanted), "-o", "JobID,State"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if done.returncode != 0 or "disabled" in done.stdout + done.stderr:
        return {}
    states = {}
    for line in done.stdout.splitlines():
        job, _, state = line.partition("|")
        if state:
            states[job.strip()] = state.split()[0]
    return states


class _Refused(pickle.UnpicklingError):
    """A result file names something other than naga's outcome of a task."""


class _OutcomeUnpickler(pickle.Unpickler):
    """An unpickler that builds only an :class:`Outcome`, its :class:`TaskStatus` and plain
    values (str, numbers, tuples, lists, dicts): any other global a pickle names (``os.system``,
    ``builtins.open``, a class whose reduce runs code) is refused, never imported or called."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("naga.launch._backend", "Outcome"):
            return Outcome
        if (module, name) == ("naga.launch._backend", "TaskStatus"):
            return TaskStatus
        raise _Refused(f"it names {module}.{name}, which naga does not load from a result file")


def _load_result(handle: BinaryIO) -> Any:
    return _OutcomeUnpickler(handle).load()


def read_outcome(path: Path) -> Outcome | None:
    """The outcome in a result file submitit wrote, or None when there is none (yet).

    The file is read without running anything it names (:class:`_OutcomeUnpickler`): a pickle
    of anything but naga's outcome or plain values is an unreadable result, a failed task.
    """
    if not path.exists():
        return None
    for _ in range(3):
        try:
            with open(path, "rb") as handle:
                loaded = _load_result(handle)
            if not (isinstance(loaded, tuple) and len(loaded) == 2):
                return Outcome.failed(f"unreadable result file {path}: not a submitit result")
            kind, value = loaded
            break
        except _Refused as exc:
            return Outcome.failed(f"unreadable result file {path}: {exc}")
        except (EOFError, pickle.UnpicklingError):  # written as we read
            time.sleep(0.5)
        except OSError:
            return None
        except Exception as exc:  # a result naga cannot read back (another naga, a bad file)
            return Outcome.failed(f"unreadable result file {path}: {type(exc).__name__}: {exc}")
    else:
        return Outcome.failed(f"unreadable result file {path}")
    if kind == "success" and isinstance(value, Outcome):
        return value
    text = str(value).strip()
    last = text.splitlines()[-1] if text else "failed"
    if _NOT_REQUEUED in last:
        reason = last.split("because:", 1)[-1].strip().rstrip(".")
        return Outcome(
            TaskStatus.TIMEOUT,
            f"stopped by Slurm (time limit or preemption) and not requeued: {reason} "
            f"(max_num_timeout in --slurm_config)",
        )
    return Outcome.failed(last)


def check_jobs(jobs: Mapping[str, str], sweep_dir: Path) -> dict[str, JobCheck]:
    """The fate of each job of ``{key: job}``, keyed the same way.

    ``squeue`` is asked once; a job gone from it without a result file is looked at again a
    moment later (the file system may show the result late) before it counts as lost.
    """
    states = queue_states(jobs.values())
    checks: dict[str, JobCheck] = {}
    gone: dict[str, str] = {}
    for key, job in jobs.items():
        outcome = read_outcome(result_file(sweep_dir, job))
        if outcome is not None:
            checks[key] = JobCheck(job, JobState.ENDED, outcome=outcome)
        elif states is None:
            checks[key] = JobCheck(job, JobState.UNKNOWN)
        elif job in states:
            checks[key] = JobCheck(job, JobState.LIVE, queue=states[job])
        else:
            gone[key] = job
    if gone:
        time.sleep(1.0)
        accounting = accounting_states(gone.values())
        for key, job in gone.items():
            outcome = read_outcome(result_file(sweep_dir, job))
            if outcome is not None:
                checks[key] = JobCheck(job, JobState.ENDED, outcome=outcome)
                continue
            why = f"Slurm says {accounting[job]}" if job in accounting else "no result"
            checks[key] = JobCheck(
                job,
                JobState.LOST,
                outcome=Outcome(
                    TaskStatus.LOST,
                    f"Slurm job {job} left the queue without a result ({why}); see "
                    f"{slurm_log(sweep_dir, job)}",
                ),
            )
    return checks
