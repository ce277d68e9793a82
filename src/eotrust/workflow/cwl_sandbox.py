"""The bubblewrap sandbox around every command a cwltool job runs (issue 11 for CWL).

cwltool prepares a job on the host: its output directory and tmpdir (fresh, under the
system's temporary directory), its inputs staged as symlinks in a staging directory (the
job's ``pathmapper``) and its InitialWorkDir (the ``generatemapper``). :class:`CwlSandbox`
turns that into one :class:`~eotrust.workflow.sandbox.Sandbox`: the output directory and
tmpdir are the only writable places (at their host paths, since cwltool's command line and
``$(runtime.outdir)`` name them), the staging directory and every staged input's real file or
directory are bound read-only, nothing else of the host but the system's programs is visible
(not the eotrust home, not the store), no network unless the tool asks for ``NetworkAccess``
and the platform's policy names it, an environment of only what CWL sets (``HOME``,
``TMPDIR``, ``PATH``, ``EnvVarRequirement``; never ``EOTRUST_*``), and hard limits from the
declared ``ResourceRequirement`` capped by the policy.

JavaScript expressions are evaluated by cwltool itself (node.js, in the runner's process, on
values only), never inside the job; they are not sandboxed by this module.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eotrust.settings import Settings
from eotrust.workflow.cwl_confine import check_readable
from eotrust.workflow.sandbox.bwrap import DEFAULT_PATH, Sandbox, python_paths, require_bwrap
from eotrust.workflow.sandbox.cgroup import PidsCgroup, open_pids_cgroup
from eotrust.workflow.sandbox.disk import DiskFloor, watching
from eotrust.workflow.sandbox.limits import unwrap_status, violation
from eotrust.workflow.sandbox.policy import ADDRESS_SPACE_HEADROOM_MB, Limits, SandboxPolicy, clean_env

if TYPE_CHECKING:
    from cwltool.job import CommandLineJob

_logger = logging.getLogger("cwltool")

#: pathmapper entry types whose ``resolved`` is a host file or directory the job reads
_READ_TYPES = ("File", "Directory", "WritableFile", "WritableDirectory")


@dataclass(frozen=True)
class CwlSandbox:
    """How every CWL job of one run is sealed off."""

    policy: SandboxPolicy
    hidden: tuple[Path, ...]  # never shown, not even as an input: the eotrust home and the store
    wall_s: float  # a job without its own (shorter) ToolTimeLimit is stopped after this
    read_roots: tuple[Path, ...] = ()  # when set, nothing outside them (real paths) is bound (cwl_confine)

    @classmethod
    def from_settings(cls, settings: Settings) -> CwlSandbox | None:
        """The sandbox the settings ask for; None when it is off (``--no-sandbox``).
        SandboxUnavailableError (one line and the install hint) when bwrap is missing."""
        if not settings.sandbox:
            return None
        require_bwrap()
        hidden = tuple(dict.fromkeys(Path(os.path.abspath(p)) for p in (settings.home_dir, settings.store_dir)))
        return cls(policy=SandboxPolicy.from_settings(settings), hidden=hidden, wall_s=settings.step_timeout_s)

    def network_for(self, job: Any) -> bool:
        """A job has the network only when its tool asks (``NetworkAccess``) and the policy names
        the tool (its label, its file name or its id's fragment: :func:`tool_names`)."""
        names: tuple[str, ...] = getattr(job, "tool_names", ())
        return bool(getattr(job, "networkaccess", False)) and any(n in self.policy.network_allow for n in names)

    def limits_for(self, job: Any) -> Limits:
        """Limits from the tool's ResourceRequirement (cwltool's evaluated ``builder.resources``),
        capped by the policy; the policy's maxima when the tool declares none."""
        pol = self.policy
        req, _ = job.get_requirement("ResourceRequirement")
        res = job.builder.resources if req is not None else {}
        ram = res.get("ram")
        memory = min(math.ceil(float(ram)), pol.max_memory_mb) if ram else pol.max_memory_mb
        size = max(float(res.get("outdirSize") or 0), float(res.get("tmpdirSize") or 0))
        files = min(math.ceil(size), pol.max_file_mb) if size else pol.max_file_mb
        return Limits(
            memory_mb=memory + ADDRESS_SPACE_HEADROOM_MB,
            cpu_s=pol.max_cpu_s,
            procs=pol.max_procs,
            file_mb=files,
            wall_s=self.wall_s,
            disk_floor_mb=pol.min_free_disk_mb,
        )

    def box_for(self, job: Any, env: MutableMapping[str, str], limits: Limits, cgroup: PidsCgroup | None) -> Sandbox:
        """The sandbox of one cwltool job (a ``CommandLineJob`` after staging)."""
        outdir = Path(os.path.abspath(job.outdir))
        writable = [Path(os.path.abspath(job.tmpdir))]
        readable: list[Path] = []
        if job.stagedir and os.path.isdir(job.stagedir):
            readable.append(Path(os.path.abspath(job.stagedir)))
        for mapper in (job.pathmapper, job.generatemapper):
            if mapper is None:
                continue
            for _, ent in mapper.items():
                if ent.type not in _READ_TYPES or ent.resolved.startswith("_:") or not os.path.exists(ent.resolved):
                    continue
                path = Path(os.path.abspath(ent.resolved))
                if self.read_roots:
                    check_readable(ent.resolved, self.read_roots)
                (writable if job.inplace_update and ent.type.startswith("Writable") else readable).append(path)
        inner_env = clean_env(dict(env))
        # the host PATH's user-level dirs (pyenv shims, ~/.local/bin) are not visible inside: a
        # tool's bare `python` is found in the Python eotrust runs with, bound read-only as code
        extra = [
            d
            for d in dict.fromkeys((os.path.dirname(sys.executable), os.path.join(sys.base_prefix, "bin")))
            if os.path.isdir(d)
        ]
        inner_env["PATH"] = ":".join([inner_env.get("PATH") or DEFAULT_PATH, *extra])
        return Sandbox(
            workdir=outdir,
            workdir_at=str(outdir),
            outputs_rw=tuple(_outermost(writable, outdir)),
            inputs_ro=tuple(p for p in _outermost(readable, outdir) if p not in writable),
            code_ro=tuple(python_paths()),
            hidden=self.hidden,
            limits=limits,
            network=self.network_for(job),
            env=inner_env,
            cgroup_procs=cgroup.procs if cgroup is not None else None,
        )


def tool_names(tool: MutableMapping[str, Any]) -> tuple[str, ...]:
    """The names a policy may give a CWL tool: its label, its file name, its id's fragment
    (``file:///x/fetch.cwl#main`` -> ``fetch.cwl``, ``main``)."""
    ident = str(tool.get("id", ""))
    path, _, fragment = ident.partition("#")
    names = [str(tool.get("label") or ""), path.rsplit("/", 1)[-1], fragment.rsplit("/", 1)[-1]]
    return tuple(n for n in dict.fromkeys(names) if n)


def refuse_links_out(box: Sandbox) -> list[str]:
    """Delete every symlink the job left in its output directory that leads anywhere but its
    own outdir, tmpdir or inputs; the refused paths. cwltool collects outputs on the host,
    following symlinks: without this a tool could ``ln -s`` the node's keystore (a path it
    cannot read, but can name) into its outputs and have cwltool copy it out for it."""
    allowed = [Path(os.path.realpath(p)) for p in (box.workdir, *box.outputs_rw, *box.inputs_ro)]
    refused: list[str] = []
    for dirpath, dirnames, filenames in os.walk(box.workdir):  # never descends through a symlink
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                continue
            real = Path(os.path.realpath(path))
            if not any(real == a or a in real.parents for a in allowed):
                os.unlink(path)
                refused.append(os.path.relpath(path, box.workdir))
    return refused


def _outermost(paths: list[Path], outdir: Path) -> list[Path]:
    """``paths`` without duplicates, without those inside another one or inside ``outdir``."""
    out: list[Path] = []
    for p in sorted(set(paths), key=lambda q: len(q.parts)):
        if p == outdir or outdir in p.parents or any(o == p or o in p.parents for o in out):
            continue
        out.append(p)
    return out


def sandboxed_job_class(
    sandbox: CwlSandbox | None, prefix: tuple[str, ...], networked: list[str] | None = None
) -> type[CommandLineJob]:
    """cwltool's ``CommandLineJob`` with each command run as ``sandbox … -- prefix … command``;
    the names of jobs given the network are appended to ``networked``."""
    from cwltool.job import CommandLineJob

    class SandboxedJob(CommandLineJob):
        tool_names: tuple[str, ...] = ()  # set per tool: what the network allow-list may name

        def _execute(
            self,
            runtime: list[str],
            env: MutableMapping[str, str],
            runtimeContext: Any,
            monitor_function: Callable[[subprocess.Popen[str]], None] | None = None,
        ) -> None:
            inner = list(prefix) + list(runtime)
            if sandbox is None:
                super()._execute(inner, env, runtimeContext, monitor_function)
                return
            limits = sandbox.limits_for(self)
            if not self.timelimit or self.timelimit > sandbox.wall_s:
                self.timelimit = max(1, int(sandbox.wall_s))
            cgroup = open_pids_cgroup(limits.procs) if limits.procs else None
            codes: list[int] = []
            boxes: list[Sandbox] = []
            floor = (
                DiskFloor(Path(os.path.abspath(self.outdir)), limits.disk_floor_mb)
                if limits.disk_floor_mb is not None
                else None
            )

            def monitor(proc: subprocess.Popen[str]) -> None:
                # runs when the command has started; once it has ended, before cwltool
                # collects the outputs, links leading out of the sandbox are removed

                def stop() -> None:
                    proc.kill()
                    if cgroup is not None:
                        cgroup.kill_all()

                # watched from the start: cwltool's own monitor (memory) returns only when the
                # command has ended
                with watching(floor, stop):
                    if monitor_function is not None:
                        monitor_function(proc)
                    codes.append(proc.wait())
                if floor is not None and floor.broken:
                    _logger.error("[job %s] %s", self.name, floor.broken)
                for rel in refuse_links_out(boxes[0]):
                    _logger.error("[job %s] output %s refused: a symlink leading out of the sandbox", self.name, rel)

            try:
                box = sandbox.box_for(self, env, limits, cgroup)
                boxes.append(box)
                if box.network and networked is not None:
                    networked.append(str(self.name))
                argv = box.argv(inner)  # ends in "--" and ``inner``; cwltool appends the command line
                outer_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # what /bin/sh and bwrap get
                super()._execute(argv, outer_env, runtimeContext, monitor)
                code = unwrap_status(codes[0]) if codes else None
                if code and not (floor is not None and floor.broken):
                    broke = violation(code, b"", limits, pids_hit=cgroup.hit_limit() if cgroup is not None else False)
                    if broke:
                        _logger.error("[job %s] %s", self.name, broke)
            finally:
                if cgroup is not None:
                    cgroup.remove()

    return SandboxedJob
