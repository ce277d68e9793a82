"""Issue 11 for CWL: hostile CommandLineTools run through cwltool (``eotrust cwl-runner``,
``workflow run x.cwl`` and a node's CWL applications all go through ``run_cwl``) are sealed
off like any other step: no EOTRUST_* variables, no keystore, nothing writable but the job's
output directory, no network. Each tool *succeeds* (it swallows its own errors) and prints
what it could reach, so the test reads its loot; a control run with the sandbox off shows the
same tool does leak, so these tests can fail."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eotrust.settings import Settings, load_settings
from eotrust.store import open_store
from eotrust.workflow.cwl_package import run_cwl_package, store_cwl
from eotrust.workflow.cwl_runner import CwlOptions, CwlRunResult, run_cwl
from eotrust.workflow.record import RunRecord

assert __import__("shutil").which("bwrap"), "needs bubblewrap (make sysdeps installs it)"

PASSPHRASE = "cwl-test-passphrase"
KEYSTORE_SECRET = "SECRET-CWL-KEYSTORE"


@dataclass
class Scene:
    settings: Settings
    tmp: Path
    keystore: Path
    listener: socket.socket

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def reached(self) -> bool:
        self.listener.settimeout(0)
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return False
        conn.close()
        return True


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    tmp = tmp_path_factory.mktemp("sandbox-cwl")
    settings = load_settings(home=tmp / "home")
    keystore = settings.path("parties", "platform") / "keystore.json"
    keystore.write_text(json.dumps({"crypto": KEYSTORE_SECRET}) + "\n")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield Scene(settings, tmp, keystore, listener)
    listener.close()


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EOTRUST_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("EOTRUST_SOMETHING", "eotrust-variable-value")


def hostile_tool(path: Path, script: str, *, with_input: bool = False) -> Path:
    """A CommandLineTool running ``bash -c script``; its stdout is its output ``loot``."""
    tool = {
        "cwlVersion": "v1.2",
        "class": "CommandLineTool",
        "baseCommand": ["bash", "-c"],
        "arguments": [script],
        "inputs": {"f": {"type": "File"}} if with_input else {},
        "outputs": {"loot": {"type": "stdout"}},
        "stdout": "loot.txt",
    }
    path.write_text(json.dumps(tool))
    return path


def run(
    scene: Scene,
    tmp: Path,
    script: str,
    *,
    settings: Settings | None = None,
    job: dict[str, object] | None = None,
    with_input: bool = False,
    extra_args: tuple[str, ...] = (),
) -> tuple[CwlRunResult, str]:
    tool = hostile_tool(tmp / "hostile.cwl", script, with_input=with_input)
    job_file = tmp / "job.json"
    job_file.write_text(json.dumps(job or {}))
    result = run_cwl(
        settings or scene.settings, tool, job_file, CwlOptions(outdir=tmp / "out", cache=False, extra_args=extra_args)
    )
    assert result.exit_code == 0, result.log[-2000:]
    return result, (tmp / "out" / "loot.txt").read_text()


def record_of(scene: Scene, result: CwlRunResult) -> RunRecord:
    assert result.run_cid is not None
    return RunRecord.model_validate_json(open_store(scene.settings).get_bytes(result.run_cid))


def test_environment_holds_no_secret(scene: Scene, tmp_path: Path) -> None:
    # cwltool passes only HOME, TMPDIR and PATH by default; even told to pass everything, the
    # sandbox's clean environment keeps EOTRUST_* out
    result, loot = run(scene, tmp_path, "env; echo END", extra_args=("--preserve-entire-environment",))
    assert "END" in loot and "HOME=" in loot  # the tool ran and printed its environment
    assert "EOTRUST" not in loot and PASSPHRASE not in loot
    assert [(s.sandboxed, s.network) for s in record_of(scene, result).steps] == [(True, False)]


def test_control_without_sandbox_leaks(scene: Scene, tmp_path: Path) -> None:
    # the same tool with the sandbox off (--no-sandbox) does see the secrets: the attacks are real
    loose = scene.settings.model_copy(update={"sandbox": False})
    result, loot = run(
        scene,
        tmp_path,
        f"env; cat {scene.keystore} 2>&1; true",
        settings=loose,
        extra_args=("--preserve-entire-environment",),
    )
    assert PASSPHRASE in loot and KEYSTORE_SECRET in loot
    assert [(s.sandboxed, s.network) for s in record_of(scene, result).steps] == [(False, True)]


def test_keystore_is_invisible(scene: Scene, tmp_path: Path) -> None:
    home = scene.settings.home_dir
    _, loot = run(scene, tmp_path, f"cat {scene.keystore} 2>&1; ls -la {home} 2>&1; ls / ; echo END")
    assert "END" in loot and "No such file or directory" in loot
    assert KEYSTORE_SECRET not in loot and f"ls: cannot access '{home}'" in loot  # the whole home is absent


def test_writes_outside_outdir_fail(scene: Scene, tmp_path: Path) -> None:
    source = tmp_path / "input.txt"
    source.write_text("original\n")
    home = scene.settings.home_dir
    targets = [home / "pwned.txt", scene.tmp / "pwned.txt", Path("/usr/pwned-cwl")]
    writes = "; ".join(f"echo pwned > {t} 2>&1" for t in targets)
    _, loot = run(
        scene,
        tmp_path,
        f"{writes}; echo pwned >> $(inputs.f.path) 2>&1; echo ok > inside.txt && echo WROTE-INSIDE",
        job={"f": {"class": "File", "path": str(source)}},
        with_input=True,
    )
    assert "WROTE-INSIDE" in loot  # its own output directory is writable
    assert not any(t.exists() for t in targets), loot
    assert source.read_text() == "original\n"  # inputs are read-only
    assert scene.keystore.read_text() == json.dumps({"crypto": KEYSTORE_SECRET}) + "\n"


def test_output_symlink_to_the_keystore_is_refused(scene: Scene, tmp_path: Path) -> None:
    # the tool cannot read the keystore but can name it: a symlink output would make cwltool
    # (on the host) copy it out; the link is removed before outputs are collected
    tool = {
        "cwlVersion": "v1.2",
        "class": "CommandLineTool",
        "baseCommand": ["ln", "-s", str(scene.keystore), "loot.txt"],
        "inputs": {},
        "outputs": {"loot": {"type": "File", "outputBinding": {"glob": "loot.txt"}}},
    }
    (tmp_path / "link.cwl").write_text(json.dumps(tool))
    result = run_cwl(scene.settings, tmp_path / "link.cwl", None, CwlOptions(outdir=tmp_path / "out", cache=False))
    assert result.exit_code != 0 and "refused: a symlink leading out of the sandbox" in result.log
    found = [p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert not any(KEYSTORE_SECRET in text for text in found)


def test_no_network(scene: Scene, tmp_path: Path) -> None:
    _, loot = run(scene, tmp_path, f"echo hi > /dev/tcp/127.0.0.1/{scene.port} 2>&1 && echo CONNECTED; echo END")
    assert "END" in loot and "CONNECTED" not in loot
    assert not scene.reached()


@pytest.mark.parametrize("allowed", [False, True])
def test_network_only_when_asked_and_allowed(scene: Scene, tmp_path: Path, allowed: bool) -> None:
    tool = {
        "cwlVersion": "v1.2",
        "class": "CommandLineTool",
        "baseCommand": ["bash", "-c"],
        "arguments": [f"echo hi > /dev/tcp/127.0.0.1/{scene.port} 2>&1 && echo CONNECTED; echo END"],
        "requirements": [{"class": "NetworkAccess", "networkAccess": True}],
        "inputs": {},
        "outputs": {"loot": {"type": "stdout"}},
        "stdout": "loot.txt",
    }
    (tmp_path / "net.cwl").write_text(json.dumps(tool))
    settings = scene.settings.model_copy(update={"sandbox_network_allow": ["net.cwl"] if allowed else []})
    result = run_cwl(settings, tmp_path / "net.cwl", None, CwlOptions(outdir=tmp_path / "out", cache=False))
    assert result.exit_code == 0, result.log[-2000:]
    assert ("CONNECTED" in (tmp_path / "out" / "loot.txt").read_text()) is allowed
    assert scene.reached() is allowed
    assert [(s.sandboxed, s.network) for s in record_of(scene, result).steps] == [(True, allowed)]


@pytest.mark.parametrize(("ram_mb", "expect"), [(64, "REFUSED"), (6000, "ALLOCATED")])
def test_declared_memory_is_the_limit(scene: Scene, tmp_path: Path, ram_mb: int, expect: str) -> None:
    # ResourceRequirement ramMin: the address space is that plus a fixed headroom (2 GiB), so
    # 4 GiB of it (mapped, never touched: cheap; a bytearray would write all 4 GiB) is refused
    # at 64 MiB and granted at 6000 MiB
    tool = {
        "cwlVersion": "v1.2",
        "class": "CommandLineTool",
        "baseCommand": ["python3", "-c"],
        "arguments": [
            "import mmap\ntry:\n m = mmap.mmap(-1, 4 * 1024 ** 3); print('ALLOCATED')\nexcept OSError:\n print('REFUSED')"
        ],
        "requirements": [{"class": "ResourceRequirement", "ramMin": ram_mb}],
        "inputs": {},
        "outputs": {"loot": {"type": "stdout"}},
        "stdout": "loot.txt",
    }
    (tmp_path / "mem.cwl").write_text(json.dumps(tool))
    result = run_cwl(scene.settings, tmp_path / "mem.cwl", None, CwlOptions(outdir=tmp_path / "out", cache=False))
    assert result.exit_code == 0, result.log[-2000:]
    assert (tmp_path / "out" / "loot.txt").read_text().strip() == expect


def test_node_cwl_application_is_sandboxed(scene: Scene, tmp_path: Path) -> None:
    # a deployed CWL application package, as `eotrust node run` runs it
    store = open_store(scene.settings)
    tool = hostile_tool(
        tmp_path / "app.cwl", f"env; cat $(inputs.f.path); cat {scene.keystore} 2>&1; true", with_input=True
    )
    package = store_cwl(tool, store)
    data = store.put_bytes(b"the task's own input\n")
    result = run_cwl_package(
        scene.settings, package, {"f": data}, {}, store=store, outdir=tmp_path / "out", cache=False
    )
    assert result.exit_code == 0, result.log[-2000:]
    loot = (tmp_path / "out" / "loot.txt").read_text()
    assert "the task's own input" in loot
    assert "EOTRUST" not in loot and KEYSTORE_SECRET not in loot
    assert [s.sandboxed for s in record_of(scene, result).steps] == [True]
    assert os.environ["EOTRUST_PASSPHRASE"] == PASSPHRASE  # the node's own process keeps its secret


def test_without_bwrap_nothing_runs(scene: Scene, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eotrust.errors import SandboxUnavailableError

    tool = hostile_tool(tmp_path / "t.cwl", "echo ran > /tmp/never")
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    with pytest.raises(SandboxUnavailableError, match="bubblewrap"):
        run_cwl(scene.settings, tool, None, CwlOptions(outdir=tmp_path / "out", cache=False))
    assert not (tmp_path / "out" / "loot.txt").exists()


def test_cli_no_sandbox_warns_and_records_it(scene: Scene, tmp_path: Path) -> None:
    import subprocess
    import sys

    tool = hostile_tool(tmp_path / "t.cwl", "echo ran")
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "EOTRUST_HOME": str(scene.settings.home_dir),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "eotrust.cli.main",
            "cwl-runner",
            "--no-sandbox",
            "--no-cache",
            "--outdir",
            str(tmp_path / "out"),
            str(tool),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "WARNING: --no-sandbox" in done.stderr and json.loads(done.stdout)["loot"]["basename"] == "loot.txt"
    cid = done.stderr.strip().rsplit(" ", 1)[-1]
    record = RunRecord.model_validate_json(open_store(scene.settings).get_bytes(cid))
    assert [(s.sandboxed, s.network) for s in record.steps] == [(False, True)]


# -- JavaScript expressions ------------------------------------------------------------------------
# cwltool evaluates expressions in node's `vm`, which is no boundary: this expression takes the
# node process itself and reports what it can reach — the runner's environment, the keystore, a
# shell command and the network. Before, it ran as the runner (outside bwrap) and got all four.
ESCAPE = """${
  var proc = globalThis.constructor.constructor("return process")();
  var req = globalThis.constructor.constructor("return require")();
  var out = ["escaped"];
  out.push("env:" + (proc.env.EOTRUST_PASSPHRASE || "-"));
  try { out.push("keystore:" + req("fs").readFileSync(KEYSTORE, "utf8")); } catch (e) { out.push("keystore:-"); }
  try { out.push("shell:" + req("child_process").execSync("echo ran-a-shell").toString().trim()); }
  catch (e) { out.push("shell:-"); }
  try { req("child_process").execSync("bash -c 'echo hi > /dev/tcp/127.0.0.1/PORT'"); out.push("net:reached"); }
  catch (e) { out.push("net:-"); }
  return {"loot": out.join(" ")};
}"""


def _expression_tool(outputs: dict[str, str], expression: str) -> dict[str, object]:
    return {
        "cwlVersion": "v1.2",
        "class": "ExpressionTool",
        "requirements": {"InlineJavascriptRequirement": {}},
        "inputs": {},
        "outputs": outputs,
        "expression": expression,
    }


def _escape(scene: Scene, tmp: Path, settings: Settings) -> str:
    tool = _expression_tool(
        {"loot": "string"},
        ESCAPE.replace("KEYSTORE", json.dumps(str(scene.keystore))).replace("PORT", str(scene.port)),
    )
    (tmp / "escape.cwl").write_text(json.dumps(tool))
    (tmp / "job.json").write_text("{}")
    result = run_cwl(settings, tmp / "escape.cwl", tmp / "job.json", CwlOptions(outdir=tmp / "out", cache=False))
    assert result.exit_code == 0, result.log[-2000:]
    assert isinstance(result.output, dict), result.output
    return str(result.output["loot"])


def test_an_expression_that_escapes_nodes_vm_finds_nothing(scene: Scene, tmp_path: Path) -> None:
    loot = _escape(scene, tmp_path, scene.settings)
    assert loot.startswith("escaped ")  # the escape itself still works: it is node's vm
    assert PASSPHRASE not in loot and "env:-" in loot
    assert KEYSTORE_SECRET not in loot and "keystore:-" in loot
    assert "net:-" in loot and not scene.reached()
    # a shell inside the expression's own jail may run; it sees what the jail holds (nothing)


def test_control_an_escaping_expression_without_sandbox_gets_everything(scene: Scene, tmp_path: Path) -> None:
    loose = scene.settings.model_copy(update={"sandbox": False})
    loot = _escape(scene, tmp_path, loose)
    assert PASSPHRASE in loot and KEYSTORE_SECRET in loot and "shell:ran-a-shell" in loot
    assert "net:reached" in loot and scene.reached()


def test_the_expression_jails_leave_no_directory_behind(scene: Scene, tmp_path: Path) -> None:
    """A jailed node lives as long as its thread, so its empty working directory outlived the
    runner: one per process was left in TMPDIR, for ever. Now none is."""
    import subprocess
    import sys

    tool = _expression_tool({"n": "int"}, "${ return {'n': 6 * 7}; }")
    (tmp_path / "sum.cwl").write_text(json.dumps(tool))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "EOTRUST_HOME": str(scene.settings.home_dir),
        "TMPDIR": str(scratch),
    }
    argv = [sys.executable, "-m", "eotrust.cli.main", "cwl-runner", "--no-cache", "--outdir", str(tmp_path / "out")]
    done = subprocess.run([*argv, str(tmp_path / "sum.cwl")], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"n": 42}
    assert not list(scratch.glob("eotrust-cwl-js-*"))


def test_a_tool_that_fills_the_disk_is_killed_at_the_platforms_floor(scene: Scene, tmp_path: Path) -> None:
    """As for the engine's steps (test_sandbox_local.py): a CommandLineTool writing 16 MiB files
    in a loop is killed once less than ``min_free_disk_mb`` is free (set here 48 MiB under what
    is free now), the run fails naming the limit, and nothing it wrote is kept. (The tool stops
    by itself after 2 GiB, so that a broken floor fails this test without filling the disk.)"""
    from eotrust.disk import free_bytes

    settings = load_settings(home=scene.settings.home, min_free_disk_mb=max((free_bytes(tmp_path) >> 20) - 48, 0))
    script = "for i in `seq 128`; do head -c 16M /dev/zero > f$i || exit 1; done"  # 2 GiB at most
    tool = hostile_tool(tmp_path / "fill.cwl", script)
    result = run_cwl(settings, tool, None, CwlOptions(outdir=tmp_path / "out", cache=False))
    assert result.exit_code != 0
    assert "sandbox limit broken: disk" in result.log and f"keeps {settings.min_free_disk_mb} MiB" in result.log
    assert not list((tmp_path / "out").glob("f*"))


def test_an_output_that_would_take_the_disk_below_the_floor_is_not_stored(scene: Scene, tmp_path: Path) -> None:
    """As for the engine's steps: a tool's outputs are copied into the store after it ends. A
    300 MiB output written while the disk had room (the floor 512 MiB under what is free now)
    would take it 88 MiB below the floor once stored: the run fails naming the limit, nothing
    is stored and the output is deleted. Before, the copy was made whatever the disk held.
    (212 MiB are left for other processes' writes while the tool writes.)"""
    from eotrust.disk import free_bytes

    settings = load_settings(home=scene.settings.home, min_free_disk_mb=max((free_bytes(tmp_path) >> 20) - 512, 0))
    tool = hostile_tool(tmp_path / "big.cwl", "head -c 300M /dev/zero")
    store = open_store(settings)
    before = {o.cid for o in store.list()}
    result = run_cwl(settings, tool, None, CwlOptions(outdir=tmp_path / "out", cache=False))
    assert result.exit_code != 0
    assert "output 'loot': sandbox limit broken: disk (storing it, 300 MiB" in result.log, result.log[-2000:]
    assert not [o for o in store.list() if o.cid not in before and o.size > 1 << 20]
    assert not (tmp_path / "out" / "loot.txt").exists()
