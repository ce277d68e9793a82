"""CWL v1.2 conformance: cwltest over the whole shared suite with `eotrust cwl-runner`, and with
cwltool (--no-container) beside it in the same run as the reference.

    nice python benchmarks/cwl_conformance.py [--tags all|required|TAG] [-j 2] [-n 1-10]
    python benchmarks/cwl_conformance.py --from-xml eotrust.xml cwltool.xml   # report an earlier run

Each runner goes once over the suite (every test by default), both at the same time so that they
share the machine's load alike; the ``required`` figures are the tests tagged ``required``
within that run. Prints per-runner pass counts and wall time, each
test's wall time for eotrust and cwltool with their ratio, the tests where the two differ, and
last two lines::

    CWL v1.2 all: P/N passed (cwltool Q/N)
    CWL v1.2 required: P/N passed (cwltool Q/N)

The suite lives in ``shared/conformance/cwl-v1.2`` beside the checkout (looked for in the
checkout's parent folders) or in $EOTRUST_CWL_CONFORMANCE."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def find_suite() -> Path:
    """$EOTRUST_CWL_CONFORMANCE, else the first ``shared/conformance/cwl-v1.2`` above the checkout."""
    if os.environ.get("EOTRUST_CWL_CONFORMANCE"):
        return Path(os.environ["EOTRUST_CWL_CONFORMANCE"])
    for parent in REPO.parents:
        candidate = parent / "shared" / "conformance" / "cwl-v1.2"
        if (candidate / "conformance_tests.yaml").is_file():
            return candidate
    raise SystemExit(
        "the CWL v1.2 conformance suite is not in ../shared/conformance/cwl-v1.2; set EOTRUST_CWL_CONFORMANCE"
    )


@dataclass(frozen=True)
class Case:
    status: str  # passed | failed | skipped
    seconds: float
    tags: frozenset[str]


def _runner_script(workdir: Path, name: str, command: list[str], env: dict[str, str]) -> Path:
    """A one-line executable cwltest can call as its --tool."""
    script = workdir / name
    exports = "".join(f"export {k}={v!r}\n" for k, v in env.items())
    script.write_text("#!/bin/sh\n" + exports + "exec " + " ".join(f"'{c}'" for c in command) + ' "$@"\n')
    script.chmod(0o755)
    return script


def _cwltest(suite: Path, tool: Path, tags: str | None, jobs: int, select: str | None, xml: Path) -> float:
    """Run cwltest with ``tool`` as the runner; its wall time (results in ``xml``)."""
    cmd = [
        str(BIN / "cwltest"),
        "--test",
        str(suite / "conformance_tests.yaml"),
        "--tool",
        str(tool),
        "-j",
        str(jobs),
        "--junit-xml",
        str(xml),
        "--timeout",
        "300",
    ]
    if tags:
        cmd += ["--tags", tags]
    if select:
        cmd += ["-n", select]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=suite, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def _results(xmls: list[Path]) -> dict[str, Case]:
    results: dict[str, Case] = {}
    cases = [case for xml in xmls for case in ET.parse(xml).getroot().iter("testcase")]
    for case in cases:
        name = case.get("file") or case.get("name") or "?"  # cwltest puts the test's id in "file"
        status = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            status = "failed"
        elif case.find("skipped") is not None:
            status = "skipped"
        # cwltest writes a test's tags in the JUnit "class" attribute ("required, command_line_tool")
        tags = case.get("class") or case.get("category") or ""
        tagset = frozenset(t.strip() for t in tags.split(",") if t.strip())
        results[name] = Case(status, float(case.get("time") or 0.0), tagset)
    return results


def _passed(cases: dict[str, Case], tag: str | None = None) -> tuple[int, int]:
    chosen = [c for c in cases.values() if tag is None or tag in c.tags]
    return sum(c.status == "passed" for c in chosen), len(chosen)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tags", default="all", help="cwltest tag to run, or 'all' (default) for the whole suite")
    ap.add_argument("-j", type=int, default=2, help="tests at once per runner (the machine is shared: keep it small)")
    ap.add_argument("-n", default=None, help="only these test numbers (cwltest -n)")
    ap.add_argument(
        "--from-xml",
        nargs=2,
        metavar=("EOTRUST_XML", "CWLTOOL_XML"),
        help="report on the cwltest --junit-xml files of an earlier run instead of running "
        "(each a comma-separated list: a suite run in parts with -n)",
    )
    args = ap.parse_args()
    tags = None if args.tags == "all" else args.tags
    walls: tuple[float | None, float | None] = (None, None)
    if args.from_xml:
        ours_xml, ref_xml = ([Path(p) for p in arg.split(",")] for arg in args.from_xml)
        print(
            f"results of an earlier run: {', '.join(map(str, ours_xml))} (eotrust); "
            f"{', '.join(map(str, ref_xml))} (cwltool)",
            flush=True,
        )
    else:
        suite = find_suite()
        work = Path(tempfile.mkdtemp(prefix="cwl-conformance-"))
        env = {
            "EOTRUST_HOME": str(work / "home"),
            "EOTRUST_CONFIG": "",
            "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO / "src")),
        }
        eotrust = _runner_script(
            work, "eotrust-cwl-runner", [sys.executable, "-m", "eotrust.cli.main", "cwl-runner"], env
        )
        cwltool = _runner_script(work, "cwltool-runner", [str(BIN / "cwltool"), "--no-container"], {})
        ours_xml, ref_xml = [work / "eotrust.xml"], [work / "cwltool.xml"]
        print(f"suite: {suite} (tags: {args.tags}, -j {args.j} per runner, both runners at once)", flush=True)
        # side by side: both runners see the same load on a shared machine, and it takes half the time
        with ThreadPoolExecutor(2) as pool:
            ours_run = pool.submit(_cwltest, suite, eotrust, tags, args.j, args.n, ours_xml[0])
            ref_run = pool.submit(_cwltest, suite, cwltool, tags, args.j, args.n, ref_xml[0])
            walls = (ours_run.result(), ref_run.result())
    ours, ref = _results(ours_xml), _results(ref_xml)
    p, n = _passed(ours)
    q, m = _passed(ref)
    shown = [f" in {w:.0f} s" if w is not None else "" for w in walls]
    print(f"eotrust cwl-runner: {p}/{n}{shown[0]}", flush=True)
    print(f"cwltool --no-container: {q}/{m}{shown[1]}", flush=True)
    print(f"{'test':<48} {'eotrust':>9} {'cwltool':>9} {'ratio':>6}  status (eotrust/cwltool)")
    for name in sorted(set(ours) | set(ref)):
        a, b = ours.get(name), ref.get(name)
        ta = f"{a.seconds:8.2f}s" if a else "        -"
        tb = f"{b.seconds:8.2f}s" if b else "        -"
        ratio = f"{a.seconds / b.seconds:5.2f}x" if a and b and b.seconds > 0 else "     -"
        sa, sb = (a.status if a else "absent"), (b.status if b else "absent")
        mark = "" if sa == sb else "   <- differs"
        print(f"{name[:48]:<48} {ta:>9} {tb:>9} {ratio:>6}  {sa}/{sb}{mark}")
    both = [k for k in ours if k in ref and ref[k].seconds > 0]
    if both:
        ratios = [ours[k].seconds / ref[k].seconds for k in both]
        print(
            f"per-test wall time: eotrust median {statistics.median(ours[k].seconds for k in both):.2f} s, "
            f"cwltool median {statistics.median(ref[k].seconds for k in both):.2f} s, "
            f"median ratio {statistics.median(ratios):.2f}x (noisy: shared cores)"
        )
    worse = sorted(k for k in ours if ours[k].status != "passed" and ref.get(k) and ref[k].status == "passed")
    better = sorted(k for k in ours if ours[k].status == "passed" and ref.get(k) and ref[k].status != "passed")
    print(f"failing for eotrust only: {', '.join(worse) or 'none'}")
    print(f"failing for cwltool only: {', '.join(better) or 'none'}")
    if tags is None:
        print(f"CWL v1.2 all: {p}/{n} passed (cwltool {q}/{m})")
    elif tags != "required":
        print(f"CWL v1.2 {tags}: {p}/{n} passed (cwltool {q}/{m})")
    pr, nr = _passed(ours, "required")
    qr, mr = _passed(ref, "required")
    print(f"CWL v1.2 required: {pr}/{nr} passed (cwltool {qr}/{mr})")


if __name__ == "__main__":
    main()
