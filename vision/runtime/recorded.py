"""`footfall batch`: recorded footage at scale. Files (and chunks of long files) are tasks run by worker processes
that each load the model once, locally or on a Ray cluster; a manifest makes the batch resumable; a bad file is
reported and the rest goes on. See `vision.runtime.tasks` for the tasks and the manifest, `vision.runtime.task_run`
for what a worker does with one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Literal, Protocol

from pebble import ProcessExpired, ProcessPool

from vision import __version__
from vision.analytics.site import SiteFlow
from vision.config.build import CameraJob
from vision.core.cpus import available_cpus
from vision.core.errors import FootfallError, OutputError
from vision.core.processes import describe_exit, die_with_parent
from vision.perception.detect import Detector, DetectorSettings
from vision.runtime.batch import RunSettings
from vision.runtime.output_folder import RUN_FILE, OutputFolder
from vision.runtime.site_outputs import fused_summary, site_description, site_flow
from vision.runtime.task_run import TaskResult, run_task
from vision.runtime.tasks import Destination, Task, plan_tasks, settings_hash
from vision.sources.files import VideoFileSource

log = logging.getLogger(__name__)

Backend = Literal["local", "ray"]
SETTLING_S = 60.0  # a file modified more recently than this may still be being recorded
MAX_WORKERS = 256


@dataclass(frozen=True, slots=True)
class BatchSettings:
    run: RunSettings = field(default_factory=RunSettings)
    workers: int | None = None  # default: the CPUs this process may use over each worker's inference threads
    chunk_s: float | None = 900.0  # files longer than 1.5 chunks are split; None: never
    lead_in_s: float = 10.0  # seconds a chunk reads before its start, for the tracker to settle
    backend: Backend = "local"
    address: str | None = None  # a Ray cluster's address (None: start a local Ray instance)
    overwrite: bool = False  # an OUT analysed with other settings: its earlier outputs are removed (else refused)

    def __post_init__(self) -> None:
        if self.workers is not None and not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"--workers must be 1 to {MAX_WORKERS}, got {self.workers}")
        if self.chunk_s is not None and self.chunk_s < 10:
            raise ValueError(f"chunks must be at least 10 s long, got {self.chunk_s:g}")
        if not 0 <= self.lead_in_s <= 120:
            raise ValueError(f"the chunk lead-in must be 0 to 120 s, got {self.lead_in_s:g}")


def worker_plan(settings: BatchSettings, cpus: int) -> tuple[int, int]:
    """(workers, inference threads per worker): by default one worker per `threads` CPUs (all CPUs in one worker
    when no thread count is given: the runtime scales over them); with --workers N, the CPUs shared out."""
    threads = settings.run.detector.threads
    workers = settings.workers or (max(1, cpus // threads) if threads else 1)
    return workers, threads or max(1, cpus // workers)


class BatchProgress(Protocol):
    def start(self, tasks: int, media_s: float, done_before: int) -> None: ...

    def task_done(self, result: TaskResult) -> None: ...

    def finish(self) -> None: ...


class QuietProgress:
    def start(self, tasks: int, media_s: float, done_before: int) -> None:
        pass

    def task_done(self, result: TaskResult) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(slots=True)
class BatchReport:
    run_id: str
    out: str
    tasks: int = 0
    done_before: int = 0  # finished in an earlier run (the manifest)
    done: int = 0
    failed: list[dict] = field(default_factory=list)  # {path, error}
    recent: list[dict] = field(default_factory=list)  # files modified in the last minute: perhaps still growing
    partial: list[dict] = field(default_factory=list)
    media_s: float = 0.0
    wall_s: float = 0.0
    workers: int = 1
    threads: int = 1
    backend: str = "local"
    fusion: dict | None = None  # a multi-camera site's fusion pass (vision.runtime.site_fusion.FusionReport)
    detection_plans: dict[str, dict] = field(default_factory=dict)  # camera: its detection plan

    @property
    def ok(self) -> bool:
        return not self.failed


# -- workers ---------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _WorkerState:
    """What a worker process keeps between tasks: its model, loaded once, and the site's analytics."""

    settings: RunSettings
    destination: Destination
    detector: Detector
    flow: SiteFlow | None


_worker: _WorkerState | None = None  # one per worker process, set by its initializer
_worker_failure: FootfallError | None = None  # why the initializer could not start it (the model would not load)


def _start_worker(settings: RunSettings, out: str, build_detector: Callable[[DetectorSettings], Detector]) -> None:
    global _worker, _worker_failure
    die_with_parent()  # a worker must not go on publishing into a folder after its batch was killed
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    flow = site_flow(settings.flow) if settings.flow is not None else None
    try:
        _worker = _WorkerState(settings, Destination(out), build_detector(settings.detector), flow)
    except FootfallError as exc:  # told with the first task, so the batch stops with this one line
        _worker_failure = exc


def _work(task: Task) -> TaskResult:
    if _worker_failure is not None:
        raise _worker_failure
    assert _worker is not None, "worker not started"
    return run_task(task, _worker.settings, _worker.detector, _worker.destination, _worker.flow)


def _local_results(
    tasks: list[Task], settings: RunSettings, out: str, workers: int, build_detector: Callable
) -> Iterator[TaskResult]:
    """The tasks' results as worker processes finish them. Each task runs in a worker process, even with one
    worker: a worker that dies on a file (a crash inside a decoder or a model runtime, the kernel's OOM killer)
    fails that task, a new worker takes its place (loading the model again), and the batch goes on."""
    context = get_context("spawn")  # a fresh interpreter: forking a process with runtime threads can deadlock
    pool = ProcessPool(workers, initializer=_start_worker, initargs=(settings, out, build_detector), context=context)
    try:
        pending: dict[Future, Task] = {pool.schedule(_work, (task,)): task for task in tasks}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                yield _result_of(future, task)
        pool.close()
    finally:
        pool.stop()  # workers still busy (an interrupted batch) are ended now
        pool.join(timeout=10)


def _result_of(future: Future, task: Task) -> TaskResult:
    try:
        return future.result()
    except FootfallError:  # the workers cannot work at all (a model that does not load): the batch stops here
        raise
    except ProcessExpired as exc:
        why = describe_exit(exc.exitcode, "the worker")
        return TaskResult(task, ok=False, error=f"{task.label}: {why} while analysing it; a rerun retries it")
    except Exception as exc:  # the pool could not start a worker, or the worker could not send its result
        return TaskResult(task, ok=False, error=f"{task.label}: {str(exc).strip() or type(exc).__name__}")


def _ray_results(
    tasks: list[Task], settings: RunSettings, out: str, workers: int, build_detector: Callable, address: str | None
) -> Iterator[TaskResult]:
    try:
        import ray
    except ImportError:
        raise FootfallError("--backend ray needs Ray: pip install 'footfall[ray]'") from None

    # a model loaded once per actor; an actor that dies is started again (without end: one file that kills it must
    # not take the pool down), and a task it was running is retried twice before it counts as failed
    @ray.remote(max_restarts=-1, max_task_retries=2)
    class TaskActor:
        def __init__(self) -> None:
            _start_worker(settings, out, build_detector)

        def work(self, task: Task) -> TaskResult:
            return _work(task)

    started_here = not ray.is_initialized()
    if started_here and address is not None:
        _check_reachable(address)
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local Ray instance"
            raise FootfallError(f"cannot reach {where} ({str(exc).splitlines()[0]}); check --address") from None
    try:
        threads = settings.detector.threads or 1
        idle = [TaskActor.options(num_cpus=threads).remote() for _ in range(workers)]
        queue = list(reversed(tasks))
        running: dict = {}  # object ref -> (task, actor)
        while queue or running:
            while queue and idle:
                actor, task = idle.pop(), queue.pop()
                running[actor.work.remote(task)] = (task, actor)
            (ref,), _ = ray.wait(list(running), num_returns=1)
            task, actor = running.pop(ref)
            idle.append(actor)
            try:
                yield ray.get(ref)
            except ray.exceptions.RayError as exc:  # the actor died on it each time it was tried
                if isinstance(getattr(exc, "cause", None), FootfallError):
                    raise exc.cause from None  # the workers cannot work at all (a model that does not load)
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                yield TaskResult(task, ok=False, error=f"{task.label}: the Ray worker failed on it ({why}); a rerun "
                                 "retries it")  # fmt: skip
    finally:
        if started_here:
            ray.shutdown()


RAY_CONNECT_TIMEOUT_S = 10.0


def _check_reachable(address: str) -> None:
    """FootfallError within RAY_CONNECT_TIMEOUT_S when nothing listens at a Ray address (`host:port` or
    `ray://host:port`): Ray itself retries for minutes, printing its own lines. `auto` and other forms pass."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise FootfallError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); check --address and that the "
            "cluster is up"
        ) from None


# -- the batch ---------------------------------------------------------------------------------------------------


def run_recorded(
    jobs: list[CameraJob],
    settings: BatchSettings,
    out: str,
    build_detector: Callable[[DetectorSettings], Detector],
    progress: BatchProgress | None = None,
    input_problems: list[str] | None = None,
) -> BatchReport:
    """Runs every job's tasks not finished before into `out`; returns what happened. Inputs that cannot be opened
    and tasks that fail are listed in the report (and run.json); the others are done."""
    progress = progress or QuietProgress()
    destination = Destination(out)
    folder = OutputFolder.claim_continuing(destination.local, "batch", "footfall batch") if destination.local else None
    started = time.perf_counter()
    workers, threads = worker_plan(settings, available_cpus())
    run = dataclasses.replace(settings.run, detector=dataclasses.replace(settings.run.detector, threads=threads))
    report = BatchReport(uuid.uuid4().hex[:12], out, workers=workers, threads=threads, backend=settings.backend)
    report.failed = [{"path": problem.split(": ", 1)[0], "error": problem} for problem in input_problems or []]
    try:
        if destination.local is not None:
            shutil.rmtree(destination.local / ".staging", ignore_errors=True)  # what a killed batch left
        key = settings_hash(_result_settings(run, settings))
        manifest = destination.manifest()
        _refuse_other_settings(manifest, key, settings.overwrite, out)
        if settings.overwrite and manifest:
            removed = destination.remove_tasks(set(manifest))
            log.info("--overwrite: removed %d part files of %d earlier tasks", removed, len(manifest))
            manifest = {}
        tasks: list[Task] = []
        for job in jobs:
            age_s = _age_s(Path(job.source))
            if age_s is not None and age_s < SETTLING_S:  # analysed, and replaced by a later batch if it grows
                growing = f"modified {age_s:.0f} s ago: if it is still being recorded, the next batch analyses it again"
                report.recent.append({"path": job.source, "error": f"{growing} and replaces these rows"})
            try:
                source = VideoFileSource(Path(job.source), job.start or run.start)
            except FootfallError as exc:
                report.failed.append({"path": job.source, "error": str(exc)})
                continue
            duration, container = source.info.duration_s, source.container_format
            source.close()
            tasks += plan_tasks(job, duration, container, settings.chunk_s, settings.lead_in_s, key)
        superseded = _superseded(manifest, tasks)
        if superseded:  # the same file span analysed before, when the file was another size or age: replaced
            destination.remove_tasks(superseded)
            log.info("%d earlier tasks of files that changed since were removed", len(superseded))
        finished = set(manifest) - superseded
        todo = [task for task in tasks if task.task_id not in finished]
        report.tasks, report.done_before = len(tasks), len(tasks) - len(todo)
        if run.flow is not None:
            destination.write_json("site.json", site_description(run.flow))
        _write_record(destination, report, run, "running")
        progress.start(len(todo), sum(task.media_s for task in todo), report.done_before)
        report.workers = workers = min(workers, max(1, len(todo)))  # no idle workers started, none reported
        if settings.backend == "ray":
            results = _ray_results(todo, run, out, workers, build_detector, settings.address)
        else:
            results = _local_results(todo, run, out, workers, build_detector)
        try:
            for result in results:
                progress.task_done(result)
                if result.ok:
                    report.done += 1
                    if result.detection_plan is not None:
                        report.detection_plans[result.task.camera] = result.detection_plan
                    report.media_s += result.media_s
                    if result.partial:
                        report.partial.append({"path": result.task.label, "error": result.error})
                    if _changed_since_planned(result.task):
                        report.partial.append({"path": result.task.label, "error": "the file changed while it was "
                                               "read; the next batch analyses it again"})  # fmt: skip
                else:
                    report.failed.append({"path": result.task.label, "error": result.error})
        finally:  # the workers publish and record their tasks themselves: the manifest is what was done
            close = getattr(results, "close", None)
            if close is not None:
                close()  # stops the workers now (an interrupted batch) before the count
            todo_ids = {task.task_id for task in todo}
            report.done = max(report.done, len(todo_ids & destination.finished()))
        progress.finish()
        report.wall_s = round(time.perf_counter() - started, 3)
        if destination.local is not None and run.flow is not None and report.done + report.done_before:
            summary, fused = fused_summary(destination.local, run.flow)  # per site, once its tasks are done
            report.fusion = fused[0].to_json() if fused is not None else None
            destination.write_json("summary.json", {"site": run.flow.site_id, **summary})
        _write_record(destination, report, run, "complete" if report.ok else "failed")
    except KeyboardInterrupt:
        _write_record(destination, report, run, "interrupted")
        raise
    except Exception:  # a FootfallError, or a bug: either way the record must not go on saying `running`
        _write_record(destination, report, run, "failed")
        raise
    finally:
        if destination.local is not None:
            shutil.rmtree(destination.local / ".staging", ignore_errors=True)
        if folder is not None:
            folder.release()
    return report


def _age_s(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return None  # opening it says why


def _changed_since_planned(task: Task) -> bool:
    try:
        stat = Path(task.path).stat()
    except OSError:
        return True
    return (stat.st_size, stat.st_mtime_ns) != (task.size, task.mtime_ns)


def _file_key(camera: object, path: object) -> tuple[str, str] | None:
    if not isinstance(camera, str) or not isinstance(path, str):
        return None
    return camera, str(Path(path).resolve())


def _superseded(manifest: dict[str, dict], tasks: list[Task]) -> set[str]:
    """The finished tasks of the files planned now whose ids the plan no longer has: the file changed (size,
    modification time), so its earlier rows are replaced, not added to."""
    planned = {task.task_id for task in tasks}
    files = {_file_key(task.camera, task.path) for task in tasks}
    return {
        task_id
        for task_id, record in manifest.items()
        if task_id not in planned and _file_key(record.get("camera"), record.get("path")) in files
    }


def _refuse_other_settings(manifest: dict[str, dict], key: str, overwrite: bool, out: str) -> None:
    other = [record for record in manifest.values() if record.get("settings") not in (None, key)]
    if other and not overwrite:
        raise OutputError(
            f"{out} holds {len(other)} tasks analysed with other settings (e.g. {other[0].get('path')}); figures of "
            "two settings cannot be added up: pass --overwrite to replace them with this batch's, or choose another "
            "--out"
        )


def _result_settings(run: RunSettings, settings: BatchSettings) -> dict:
    """The settings that decide a task's rows (not how many workers or threads compute them)."""
    detector = {k: v for k, v in asdict(run.detector).items() if k != "threads"}
    flow = site_description(run.flow) if run.flow is not None else None
    return {
        "detector": detector, "tracker": asdict(run.tracker), "analysis_fps": run.analysis_fps,
        "gate": asdict(run.gate), "detection_plan": run.detection_plan,
        "flow": flow, "chunk_s": settings.chunk_s, "lead_in_s": settings.lead_in_s,
        "start": run.start.isoformat() if run.start else None,
    }  # fmt: skip


def _write_record(destination: Destination, report: BatchReport, run: RunSettings, status: str) -> None:
    try:
        destination.write_json(
            RUN_FILE,
            {
                "kind": "batch",
                "run_id": report.run_id,
                "version": __version__,
                "status": status,
                "pid": os.getpid(),
                "updated_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
                "settings": {"analysis_fps": run.analysis_fps, "detector": asdict(run.detector)},
                **asdict(report),
            },
        )
    except OutputError as exc:
        log.error("%s", exc)
