"""Compile ``contracts/*.sol`` with the pinned npm ``solc`` into the committed artifacts.

``python -m eotrust.ledger.build`` (what ``make contracts`` runs) rewrites
``src/eotrust/ledger/artifacts/<Contract>.json`` (and, for the contracts under
``contracts/test/`` that only tests deploy, ``tests/ledger/artifacts/``); ``--check`` compiles and exits non-zero if
the committed artifacts differ from what the sources give. Running eotrust needs only the
artifacts, never Node; building needs Node and ``contracts/node_modules`` (``make node``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from eotrust.errors import ConfigError, LedgerError
from eotrust.limits import json_loads

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
REPO_ROOT = Path(__file__).resolve().parents[3]
CONTRACTS_DIR = REPO_ROOT / "contracts"
TEST_ARTIFACTS_DIR = REPO_ROOT / "tests" / "ledger" / "artifacts"
CONTRACTS = ("Task", "TaskFactory", "Escrow", "FederatedTask", "FederatedTaskFactory")
#: Contracts under contracts/test/: attackers the tests deploy, never shipped.
TEST_CONTRACTS = ("ReentrantPayee",)

#: Compiler settings: the optimizer on, an EVM version every backend runs (py-evm, anvil, mainnets).
SETTINGS: dict[str, object] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}

_COMPILE_JS = """
const solc = require(process.argv[1]);
let input = '';
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const out = solc.compile(input);
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(out)}));
});
"""


def solc_module(contracts_dir: Path = CONTRACTS_DIR) -> Path:
    """The pinned solc package under ``contracts/node_modules``; ConfigError if absent."""
    module = contracts_dir / "node_modules" / "solc"
    if not (module / "package.json").is_file():
        raise ConfigError(
            f"the pinned solc compiler is not installed under {module}",
            hint="run `make node` (npm ci in contracts/)",
        )
    return module


def compile_contracts(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, dict[str, object]]:
    """Compile every ``*.sol`` in ``contracts_dir``; return ``{name: artifact}``."""
    node = shutil.which("node")
    if node is None:
        raise ConfigError("node is not on PATH; compiling the contracts needs Node 20", hint="install Node 20")
    module = solc_module(contracts_dir)
    paths = sorted(contracts_dir.glob("*.sol")) + sorted(contracts_dir.glob("test/*.sol"))
    sources = {p.relative_to(contracts_dir).as_posix(): {"content": p.read_text()} for p in paths}
    if not sources:
        raise ConfigError(f"no Solidity sources in {contracts_dir}")
    standard_input = json.dumps({"language": "Solidity", "sources": sources, "settings": SETTINGS})
    proc = subprocess.run(
        [node, "-e", _COMPILE_JS, str(module)],
        input=standard_input,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise LedgerError(f"solc failed: {proc.stderr.strip()[-2000:]}")
    result = json_loads(proc.stdout)
    output = result["output"]
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise LedgerError("the contracts do not compile:\n" + "\n".join(e["formattedMessage"] for e in errors))
    version = str(result["version"])
    artifacts: dict[str, dict[str, object]] = {}
    for source_name, contracts in output["contracts"].items():
        for name, data in contracts.items():
            if name not in CONTRACTS and name not in TEST_CONTRACTS:
                continue
            artifacts[name] = {
                "contractName": name,
                "source": f"contracts/{source_name}",
                "compiler": {
                    "name": "solc",
                    "version": version,
                    "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
                },
                "abi": data["abi"],
                "bytecode": "0x" + data["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
            }
    missing = (set(CONTRACTS) | set(TEST_CONTRACTS)) - set(artifacts)
    if missing:
        raise LedgerError(f"contracts missing from the sources: {', '.join(sorted(missing))}")
    return artifacts


def render(artifact: dict[str, object]) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def _artifact_dir(name: str, out_dir: Path, test_dir: Path) -> Path:
    return test_dir if name in TEST_CONTRACTS else out_dir


def write_artifacts(
    artifacts: dict[str, dict[str, object]], out_dir: Path = ARTIFACTS_DIR, test_dir: Path = TEST_ARTIFACTS_DIR
) -> list[Path]:
    written = []
    for name, artifact in sorted(artifacts.items()):
        directory = _artifact_dir(name, out_dir, test_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.json"
        path.write_text(render(artifact))
        written.append(path)
    return written


def stale_artifacts(
    artifacts: dict[str, dict[str, object]], out_dir: Path = ARTIFACTS_DIR, test_dir: Path = TEST_ARTIFACTS_DIR
) -> list[str]:
    """Names whose committed artifact differs from the freshly compiled one."""
    stale = []
    for name, artifact in sorted(artifacts.items()):
        path = _artifact_dir(name, out_dir, test_dir) / f"{name}.json"
        if not path.is_file() or path.read_text() != render(artifact):
            stale.append(name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eotrust.ledger.build", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed artifacts are out of date")
    args = parser.parse_args(argv)
    artifacts = compile_contracts()
    if args.check:
        stale = stale_artifacts(artifacts)
        if stale:
            print(f"out of date: {', '.join(stale)}; run `make contracts` and commit", file=sys.stderr)
            return 1
        print("artifacts match the sources")
        return 0
    for path in write_artifacts(artifacts):
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
