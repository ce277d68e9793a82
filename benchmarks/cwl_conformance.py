"""CWL v1.2 conformance: cwltest over the shared suite with `eotrust cwl-runner`, and with
cwltool (--no-container) beside it in the same run as the reference.

    python benchmarks/cwl_conformance.py [--tags required|all] [-j 2] [-n 1-10]

Prints per-runner pass counts and wall time, the tests where the two differ, the per-test
wall time of eotrust against cwltool, and last:
``CWL v1.2 required: P/N passed (cwltool Q/N)``. The suite lives in
``../shared/conformance/cwl-v1.2`` (or $EOTRUST_CWL_CONFORMANCE)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUITE = Path(os.environ.get("EOTRUST_CWL_CONFORMANCE", REPO.parent / "shared" / "conformance" / "cwl-v1.2"))
BIN = Path(sys.executable).parent


def _runner_script(workdir: Path, name: str, command: list[str], env: dict[str, str]) -> Path:
    """A one-line executable cwltest can call as its --tool."""
    script = workdir / name
    exports = "".join(f"export {k}={v!r}\n" for k, v in env.items())
    script.write_text("#!/bin/sh\n" + exports + "exec " + " ".join(f"'{c}'" for c in command) + ' "$@"\n')
    script.chmod(0o755)
    return script


def _run(tool: Path, tags: str | None, jobs: int, select: str | None, xml: Path) -> tuple[dict[str, tuple[str, float]], float]:
    cmd = [str(BIN / "cwltest"), "--test", str(SUITE / "conformance_tests.yaml"), "--tool", str(tool),
           "-j", str(jobs), "--junit-xml", str(xml), "--timeout", "300"]
    if tags:
        cmd += ["--tags", tags]
    if select:
        cmd += ["-n", select]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=SUITE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t
    results: dict[str, tuple[str, float]] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = case.get("name") or "?"
        status = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            status = "failed"
        elif case.find("skipped") is not None:
            status = "skipped"
        results[name] = (status, float(case.get("time") or 0.0))
    return results, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tags", default="required", help="cwltest tag to run, or 'all' for the whole suite")
    ap.add_argument("-j", type=int, default=2, help="tests at once (the machine is shared: keep it small)")
    ap.add_argument("-n", default=None, help="only these test numbers (cwltest -n)")
    args = ap.parse_args()
    tags = None if args.tags == "all" else args.tags
    work = Path(tempfile.mkdtemp(prefix="cwl-conformance-"))
    env = {"EOTRUST_HOME": str(work / "home"), "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO / "src"))}
    eotrust = _runner_script(work, "eotrust-cwl-runner", [sys.executable, "-m", "eotrust.cli.main", "cwl-runner"], env)
    cwltool = _runner_script(work, "cwltool-runner", [str(BIN / "cwltool"), "--no-container"], {})
    print(f"suite: {SUITE} (tags: {args.tags}, -j {args.j})", flush=True)
    ours, ours_wall = _run(eotrust, tags, args.j, args.n, work / "eotrust.xml")
    print(f"eotrust cwl-runner: {sum(s == 'passed' for s, _ in ours.values())}/{len(ours)} in {ours_wall:.0f} s", flush=True)
    ref, ref_wall = _run(cwltool, tags, args.j, args.n, work / "cwltool.xml")
    print(f"cwltool --no-container: {sum(s == 'passed' for s, _ in ref.values())}/{len(ref)} in {ref_wall:.0f} s", flush=True)
    for name in sorted(set(ours) | set(ref)):
        a, b = ours.get(name, ("absent", 0.0))[0], ref.get(name, ("absent", 0.0))[0]
        if a != b:
            print(f"  differs: {name}: eotrust {a}, cwltool {b}")
    both = [n for n in ours if n in ref and ref[n][1] > 0]
    if both:
        ratios = [ours[n][1] / ref[n][1] for n in both]
        print(f"per-test wall time: eotrust median {statistics.median(ours[n][1] for n in both):.2f} s, "
              f"cwltool median {statistics.median(ref[n][1] for n in both):.2f} s, "
              f"median ratio {statistics.median(ratios):.2f}x (noisy: shared cores)")
    n = len(ours)
    label = "all" if tags is None else tags
    print(f"CWL v1.2 {label}: {sum(s == 'passed' for s, _ in ours.values())}/{n} passed "
          f"(cwltool {sum(s == 'passed' for s, _ in ref.values())}/{len(ref)})")


if __name__ == "__main__":
    main()
