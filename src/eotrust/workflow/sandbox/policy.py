"""What a sandboxed step may have: the platform's policy (from Settings), and the limits and
network of one step derived from its service's declared resources, capped by that policy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from eotrust.settings import Settings
from eotrust.workflow.service import ServiceSpec

#: address space a process maps beyond the memory it uses (shared libraries such as torch's,
#: thread stacks, allocator arenas): the RLIMIT_AS of a step is its memory plus this
ADDRESS_SPACE_HEADROOM_MB = 2048

#: variables a step never sees, whatever its service declares
FORBIDDEN_ENV_PREFIXES = ("EOTRUST_",)
FORBIDDEN_ENV = {"LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONSTARTUP", "PYTHONHOME"}


@dataclass(frozen=True)
class Limits:
    """Hard limits of one sandbox. ``None`` = not limited."""

    memory_mb: int | None = None  # address space (RLIMIT_AS): declared memory + ADDRESS_SPACE_HEADROOM_MB
    cpu_s: int | None = None  # CPU seconds (RLIMIT_CPU), per process
    procs: int | None = 64  # processes and threads (a pids cgroup)
    file_mb: int | None = None  # largest file written (RLIMIT_FSIZE)
    wall_s: float | None = None  # wall time: enforced by the caller's timer
    disk_floor_mb: int | None = None  # free disk always left: a DiskFloor kills the step below it

    def describe(self) -> str:
        parts = []
        if self.memory_mb:
            parts.append(f"memory {self.memory_mb} MiB")
        if self.cpu_s:
            parts.append(f"CPU {self.cpu_s} s")
        if self.procs:
            parts.append(f"{self.procs} processes")
        if self.file_mb:
            parts.append(f"files {self.file_mb} MiB")
        if self.wall_s:
            parts.append(f"wall {self.wall_s:g} s")
        if self.disk_floor_mb is not None:
            parts.append(f"disk floor {self.disk_floor_mb} MiB")
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class SandboxPolicy:
    """The platform's rules for other parties' code (``Settings.sandbox*``)."""

    enabled: bool = True
    network_allow: tuple[str, ...] = ()  # services (by name) that may have the network when they ask
    max_memory_mb: int = 8192
    max_cpu_s: int = 3600
    max_procs: int = 64
    max_file_mb: int = 4096
    min_free_disk_mb: int = 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxPolicy:
        return cls(
            enabled=settings.sandbox,
            network_allow=tuple(settings.sandbox_network_allow),
            max_memory_mb=settings.sandbox_max_memory_mb,
            max_cpu_s=settings.sandbox_max_cpu_s,
            max_procs=settings.sandbox_max_procs,
            max_file_mb=settings.sandbox_max_file_mb,
            min_free_disk_mb=settings.min_free_disk_mb,
        )

    def network_for(self, service: ServiceSpec) -> bool:
        """A service gets the network only when it declares ``network: true`` and the policy names it."""
        return bool(service.network) and service.name in self.network_allow

    def limits_for(self, service: ServiceSpec, timeout_s: float) -> Limits:
        r = service.resources
        memory = (
            min(r.memory_mb, self.max_memory_mb) if r.memory_mb else self.max_memory_mb
        ) + ADDRESS_SPACE_HEADROOM_MB
        files = min(r.disk_mb, self.max_file_mb) if r.disk_mb else self.max_file_mb
        cpu = min(self.max_cpu_s, max(1, math.ceil(timeout_s * max(1.0, r.cpus))))
        return Limits(
            memory_mb=memory,
            cpu_s=cpu,
            procs=self.max_procs,
            file_mb=files,
            wall_s=timeout_s,
            disk_floor_mb=self.min_free_disk_mb,
        )

    def spec_for(self, service: ServiceSpec, timeout_s: float, scope: str, hidden: tuple[str, ...] = ()) -> SandboxSpec:
        return SandboxSpec(
            network=self.network_for(service), limits=self.limits_for(service, timeout_s), scope=scope, hidden=hidden
        )


@dataclass(frozen=True)
class SandboxSpec:
    """How one step instance is sealed off. ``scope`` names the run: warm workers are never
    shared between runs (tasks), so one task's code never sees another task's data."""

    network: bool = False
    limits: Limits = field(default_factory=Limits)
    scope: str = ""
    hidden: tuple[str, ...] = ()  # never shown: the eotrust home, the store, the user's home

    @property
    def worker_key(self) -> tuple[object, ...]:
        """Steps with the same key may share a warm worker (wall time is per call)."""
        lim = self.limits
        return (self.scope, self.network, lim.memory_mb, lim.cpu_s, lim.procs, lim.file_mb, self.hidden)


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` without anything a step must never see."""
    return {k: v for k, v in env.items() if not k.startswith(FORBIDDEN_ENV_PREFIXES) and k not in FORBIDDEN_ENV}
