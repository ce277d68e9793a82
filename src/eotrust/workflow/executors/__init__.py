"""Where steps run: ``local.LocalExecutor`` (processes on this machine, the default) and
``dask_cluster.DaskExecutor`` (a Dask distributed cluster); :func:`open_executor` picks one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eotrust.workflow.executors.base import Executor, ExecutorBase

if TYPE_CHECKING:
    from eotrust.settings import Settings
    from eotrust.store.base import Store

__all__ = ["Executor", "ExecutorBase", "open_executor"]


def open_executor(settings: Settings, store: Store) -> Executor:
    """The executor the settings name: the Dask cluster at ``dask_scheduler``, else local
    processes over ``store``. The caller closes it."""
    if settings.dask_scheduler:
        from eotrust.workflow.executors.dask_cluster import DaskExecutor

        return DaskExecutor(settings, settings.dask_scheduler)
    from eotrust.workflow.executors.local import LocalExecutor

    return LocalExecutor(store, settings.path("workflow", "tmp"))
