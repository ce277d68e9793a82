"""The sandbox every workflow step runs in: bubblewrap namespaces, a clean environment and
hard limits. ``policy`` says what a step may have, ``bwrap`` builds the command line,
``cgroup`` caps the number of processes, ``limits`` names the limit a killed step broke,
``safefs`` reads what a step left behind without following its symlinks.

Reuse: ``sandboxed_argv(argv, inputs_ro=…, outputs_rw=…, workdir=…, limits=…, network=…,
env=…)`` wraps any command line (a CWL tool's, a model server's)."""

from eotrust.workflow.sandbox.bwrap import SANDBOX_WORKDIR, Sandbox, bwrap_path, inside, require_bwrap, sandboxed_argv
from eotrust.workflow.sandbox.policy import Limits, SandboxPolicy, SandboxSpec, clean_env

__all__ = [
    "SANDBOX_WORKDIR",
    "Limits",
    "Sandbox",
    "SandboxPolicy",
    "SandboxSpec",
    "bwrap_path",
    "clean_env",
    "inside",
    "require_bwrap",
    "sandboxed_argv",
]
