"""The procrastinate app: the job queue in schema ``procrastinate`` and every domain's tasks.

Each domain declares its tasks in its own ``tasks.py`` as a ``procrastinate.Blueprint``
named ``blueprint``, with names of their own (``maintenance.prune``,
``analytics.daily``); :data:`TASK_MODULES` lists those modules. The app's
connections are the app's login role switched, for their whole life, to ``service_role``
with ``search_path`` procrastinate first (procrastinate's functions and triggers name its
tables unqualified).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import procrastinate

from cryptotrader.jobs.runtime import record_failures

TASK_MODULES: tuple[str, ...] = (
    "cryptotrader.jobs.tasks",
    "cryptotrader.analytics.tasks",
    "cryptotrader.webhooks.tasks",
)
CONNECTION_OPTIONS = "-c search_path=procrastinate,public -c role=service_role -c TimeZone=UTC"
POOL_SIZE = 4  # procrastinate's own queries: fetch, finish, heartbeat, periodic defers


@dataclass(frozen=True)
class Periodic:
    """A periodic task's schedule: procrastinate defers it once per cron period."""

    task: str
    cron: str
    periodic_id: str
    schedule: Any  # procrastinate's croniter of ``cron``

    def next_run(self, after: datetime) -> datetime:
        """The first time of the schedule after ``after``."""
        at = float(self.schedule.get_next(ret_type=float, start_time=after.timestamp()))
        return datetime.fromtimestamp(at, UTC)


def build_app(conninfo: str, task_modules: Sequence[str] | None = None) -> procrastinate.App:
    """A new, unopened app on ``conninfo`` (the app's login role) with the tasks of
    ``task_modules`` (default :data:`TASK_MODULES`). Each app gets its own copy of every
    task, so apps built in one process (tests) never share one."""
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo,
        kwargs={"options": CONNECTION_OPTIONS},
        min_size=1,
        max_size=POOL_SIZE,
        name="cryptotrader-jobs",
    )
    app = procrastinate.App(
        connector=connector, worker_defaults={"worker_middleware": [record_failures]}
    )
    for blueprint in blueprints(task_modules):
        app.add_tasks_from(_copy(blueprint), namespace="")  # no namespace: names as declared
    return app


def blueprints(task_modules: Sequence[str] | None = None) -> list[procrastinate.Blueprint]:
    """The ``blueprint`` of each task module (default :data:`TASK_MODULES`)."""
    names = TASK_MODULES if task_modules is None else task_modules
    return [importlib.import_module(name).blueprint for name in names]


def periodic_tasks(task_modules: Sequence[str] | None = None) -> list[Periodic]:
    """Every periodic task of the task modules, by name."""
    found = [
        Periodic(p.task.name, p.cron, p.periodic_id, p.croniter)
        for blueprint in blueprints(task_modules)
        for p in blueprint.periodic_registry.periodic_tasks.values()
    ]
    return sorted(found, key=lambda p: (p.task, p.periodic_id))


def _copy(blueprint: procrastinate.Blueprint) -> procrastinate.Blueprint:
    """A blueprint with copies of ``blueprint``'s tasks and schedules (adding a blueprint
    to an app binds its tasks to that app and would rename them in place)."""
    fresh = procrastinate.Blueprint()
    copies = {id(task): copy.copy(task) for task in blueprint.tasks.values()}
    fresh.tasks = {name: copies[id(task)] for name, task in blueprint.tasks.items()}
    for periodic in blueprint.periodic_registry.periodic_tasks.values():
        fresh.periodic_registry.register_task(
            task=copies[id(periodic.task)],
            cron=periodic.cron,
            periodic_id=periodic.periodic_id,
            configure_kwargs=copy.deepcopy(periodic.configure_kwargs),
        )
    return fresh
