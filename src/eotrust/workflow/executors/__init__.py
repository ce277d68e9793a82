"""Where steps run: ``local.LocalExecutor`` (processes on this machine, the default) and
``dask.DaskExecutor`` (a Dask distributed cluster)."""

from eotrust.workflow.executors.base import Executor

__all__ = ["Executor"]
