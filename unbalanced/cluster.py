"""Trainings on a Dask cluster: a LocalCluster on this machine, or any running scheduler (Slurm or PBS through
dask-jobqueue, Kubernetes through dask-kubernetes, ...). The client submits one task per training and writes each
record itself as it arrives; workers write nothing to the run folder.

Each worker reads the study's images from the image cache the data check wrote (a shared filesystem gives every
worker the same cache; elsewhere each worker decodes once and keeps its own) and keeps them for every later task.
Each task pins TensorFlow's thread count to the protocol's, so the same task gives the same result on any worker.
A worker that dies mid-task costs that task a new start on another worker (the scheduler's own rescheduling); a
task that fails for its own reason fails at once with its error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from .datasets import StudyData
from .runtime import progress
from .splits import SplitCounts
from .tasks import Protocol, Record, Task, run_task, worker_data

_WORKER_DATA: dict[tuple[Any, ...], StudyData] = {}  # per worker process: the study's images, loaded once


@dataclass(frozen=True)
class DataSpec:
    """What a worker needs to load the study's data itself."""

    data_root: str
    positive_class: str
    classes: tuple[str, ...]
    image_size: int
    counts: SplitCounts
    split_seeds: tuple[int, ...]


def train_on_worker(task: Task, protocol: Protocol, spec: DataSpec) -> Record:
    """Run one training on a Dask worker: TensorFlow started with the protocol's oneDNN choice and threads."""
    from .runtime import start_tensorflow

    start_tensorflow(onednn=protocol.onednn, threads=protocol.threads)
    key = (spec.data_root, spec.positive_class, spec.classes, spec.image_size, spec.counts, spec.split_seeds)
    if key not in _WORKER_DATA:
        _WORKER_DATA[key] = worker_data(spec.data_root, spec.positive_class, spec.classes or None, spec.image_size, spec.counts,
                                        spec.split_seeds)  # fmt: skip
    return run_task(task, protocol, _WORKER_DATA[key])


class ClusterExecutor:
    """Trains tasks on a Dask cluster and yields (task, record) as each finishes."""

    def __init__(self, client: Any, protocol: Protocol, spec: DataSpec) -> None:
        self.client, self.protocol, self.spec = client, protocol, spec

    def __call__(self, todo: Sequence[Task]) -> Iterator[tuple[Task, Record]]:
        from distributed import as_completed

        from .cache import wait_for_cache_writes

        if not todo:
            return
        wait_for_cache_writes()  # workers read the images from the cache entry this process is still writing
        futures = {self.client.submit(train_on_worker, task, self.protocol, self.spec, key=f"train-{task.key(self.protocol)}",
                                      pure=False): task for task in todo}  # fmt: skip
        try:
            for future in as_completed(futures):
                record = future.result()  # a task's own error is raised here, naming it
                yield futures[future], record  # run_tasks reports it, with how many are left and about how long
        finally:
            unfinished = [f for f in futures if not f.done()]
            if unfinished:  # Ctrl-C or an error: nothing more runs for this study
                self.client.cancel(unfinished)


def connect(workers: int, scheduler: str, threads: int, say: Callable[[str], None] = progress) -> tuple[Any, Any]:
    """A Dask client: to the scheduler at `scheduler`, or to a new LocalCluster of `workers` processes with `threads`
    threads each; returns (client, cluster or None). The dashboard's address is printed."""
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler, timeout="30s")
        cluster = None
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=max(1, threads), processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0")  # fmt: skip
        client = Client(cluster)
    say(f"Dask: {len(client.scheduler_info()['workers'])} worker(s) at {client.scheduler.address}; dashboard {client.dashboard_link}")
    return client, cluster


def executor_for(parameters: dict[str, Any], protocol: Protocol, spec: DataSpec) -> Callable[[Sequence[Task]], Iterable[tuple[Task, Record]]] | None:
    """The executor the notebook's parameters ask for: None (train in this kernel), or a cluster's."""
    workers, scheduler = int(parameters.get("workers", 0) or 0), str(parameters.get("scheduler", "") or "")
    if not workers and not scheduler:
        return None
    client, cluster = _CLIENTS.get((workers, scheduler)) or connect(workers, scheduler, protocol.threads)
    _CLIENTS[(workers, scheduler)] = (client, cluster)
    return ClusterExecutor(client, protocol, spec)


_CLIENTS: dict[tuple[int, str], tuple[Any, Any]] = {}  # one client (and LocalCluster) per kernel, reused by its studies
