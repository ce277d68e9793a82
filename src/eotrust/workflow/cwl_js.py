"""CWL JavaScript expressions, evaluated inside the sandbox.

cwltool evaluates ``$(…)`` and ``${…}`` expressions with cwl-utils' ``NodeJSEngine``: one
``node --eval`` process running each expression through ``vm.runInNewContext``, which Node's
own documentation says is not a security mechanism. An application's expression escapes it in
one line (``globalThis.constructor.constructor("return process")()``) and then has the runner's
process: its environment (a platform's ``EOTRUST_PASSPHRASE``), its files (the keystores, the
store) and ``child_process`` — outside the bubblewrap sandbox every command line runs in.

:class:`SandboxedNodeJSEngine` starts that node process in a sandbox of its own, built like a
step's (:class:`~eotrust.workflow.sandbox.bwrap.Sandbox`): an empty working directory, the
system's programs read-only, no network, no environment but ``PATH``/``HOME``/``TMPDIR``, no
eotrust home, 1 GiB of address space, bounded CPU time and processes. Expressions compute on
the values cwltool passes them, which is all CWL gives them; an escape now finds nothing.
:func:`install_js_engine` installs it for the process (cwl-utils keeps one engine per process);
``run_cwl`` does, and marks its ``--no-sandbox`` runs with :data:`loose_js`.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from contextvars import ContextVar
from pathlib import Path

from cwl_utils import sandboxjs
from cwl_utils.errors import JavascriptException

from eotrust.errors import SandboxUnavailableError
from eotrust.workflow.sandbox.bwrap import Sandbox
from eotrust.workflow.sandbox.policy import Limits

#: address space of the expression engine: node starts in far less, V8 refuses beyond it
JS_MEMORY_MB = 1024
JS_CPU_S = 600  # a backstop: cwltool kills an expression after its --eval-timeout (60 s) anyway
JS_HEAP_MB = 256

#: True while this context runs a CWL document with the sandbox off (``--no-sandbox``): its
#: expressions get cwl-utils' own engine, as its commands get no bwrap.
loose_js: ContextVar[bool] = ContextVar("eotrust_loose_js", default=False)

_install_lock = threading.Lock()


class SandboxedNodeJSEngine(sandboxjs.NodeJSEngine):
    """cwl-utils' Node.js engine, with its node process started inside a bubblewrap sandbox
    (unless :data:`loose_js` says otherwise). cwl-utils keeps one node process per thread and
    reuses it; the jailed and the loose ones are kept apart, and neither is ever shared with
    cwl-utils' own engine (its cache is a class attribute), so a node started outside the
    sandbox never evaluates a sandboxed run's expressions."""

    _jailed = threading.local()
    _loose = threading.local()

    def __init__(self, hidden: tuple[Path, ...] = ()) -> None:
        super().__init__()
        self.hidden = hidden
        #: the jails' (empty) working directories not yet removed: a node lives as long as its
        #: thread and is seldom waited for, so what is left goes when the process exits
        self.working_dirs: set[Path] = set()
        atexit.register(self._remove_working_dirs)

    def _remove_working_dirs(self) -> None:
        for work in list(self.working_dirs):
            shutil.rmtree(work, ignore_errors=True)

    @property
    def localdata(self) -> threading.local:
        """cwl-utils' per-thread cache of node processes: the jailed one, or the loose one."""
        return self._loose if loose_js.get() else self._jailed

    @localdata.setter
    def localdata(self, value: threading.local) -> None:
        raise AttributeError("the expression engine's caches are its own")

    def new_js_proc(
        self, js_text: str, force_docker_pull: bool = False, container_engine: str = "docker"
    ) -> subprocess.Popen[str]:
        if loose_js.get():
            return super().new_js_proc(js_text, force_docker_pull, container_engine)
        node = shutil.which("nodejs") or shutil.which("node")
        if node is None:
            raise JavascriptException("evaluating CWL expressions needs Node.js (node), which is not installed")
        work = Path(tempfile.mkdtemp(prefix="eotrust-cwl-js-"))
        self.working_dirs.add(work)
        sandbox = Sandbox(
            workdir=work,
            hidden=self.hidden,
            limits=Limits(memory_mb=JS_MEMORY_MB, cpu_s=JS_CPU_S, procs=64),
            tmp_mb=16,
        )
        argv = sandbox.argv([os.path.realpath(node), f"--max-old-space-size={JS_HEAP_MB}", "--eval", js_text])
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
        self.processes_to_kill.append(proc)
        threading.Thread(target=_remove_when_done, args=(proc, work, self.working_dirs), daemon=True).start()
        return proc


def _remove_when_done(proc: subprocess.Popen[str], work: Path, left: set[Path]) -> None:
    proc.wait()
    shutil.rmtree(work, ignore_errors=True)
    left.discard(work)


def install_js_engine(hidden: tuple[Path, ...] = ()) -> None:
    """Make :class:`SandboxedNodeJSEngine` this process's CWL expression engine (idempotent;
    ``hidden``: paths its jails must never show, added to those already known)."""
    with _install_lock:
        engine = sandboxjs.get_js_engine()
        if isinstance(engine, SandboxedNodeJSEngine):
            engine.hidden = tuple(dict.fromkeys((*engine.hidden, *hidden)))
            return
        if type(engine) is not sandboxjs.NodeJSEngine:
            raise SandboxUnavailableError(f"an unknown CWL expression engine is installed ({type(engine).__name__})")
        sandboxjs.set_js_engine(SandboxedNodeJSEngine(hidden))
