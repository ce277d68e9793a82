"""The layer picture of docs/architecture.md holds: no package imports a higher layer."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "eotrust"

# Higher number = higher layer (docs/architecture.md).
LAYER = {
    "errors": 0,
    "settings": 0,
    "cid": 0,
    "names": 0,
    "limits": 0,
    "clock": 0,
    "ports": 0,
    "disk": 0,
    "urls": 0,
    "crypto": 1,
    "store": 1,
    "party": 1,
    "ledger": 1,
    "catalog": 1,
    "eo": 2,
    "ml": 2,
    "data": 2,
    "examples": 2,
    "workflow": 3,
    "backends": 4,
    "roles": 4,
    "nodes": 4,
    "verify": 4,
    "federated": 4,
    "linked": 4,
    "market": 4,
    "demo": 5,
    "api": 5,
    "cli": 5,
}
IMPORT = re.compile(r"^\s*(?:from|import)\s+eotrust\.(\w+)", re.MULTILINE)


def _violations() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        package = rel.parts[0].removesuffix(".py")
        if package == "__init__":
            continue
        assert package in LAYER, f"{rel}: package {package!r} is not in the layer picture"
        for target in IMPORT.findall(path.read_text(encoding="utf-8")):
            assert target in LAYER, f"{rel} imports eotrust.{target}, which is not in the layer picture"
            if LAYER[target] > LAYER[package]:
                found.append(f"{rel} (layer {LAYER[package]}) imports eotrust.{target} (layer {LAYER[target]})")
    return found


def test_lower_layers_never_import_higher_ones() -> None:
    assert _violations() == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    # The regular expression must catch both import forms, at module and function level.
    text = "import eotrust.api\n\ndef f():\n    from eotrust.cli.common import console\n"
    assert IMPORT.findall(text) == ["api", "cli"]


def test_the_import_linter_contract_draws_the_same_layers() -> None:
    # `make check` runs import-linter on pyproject.toml's contract; it must say what LAYER says.
    import tomllib

    config = tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c for c in contracts if c["type"] == "layers"]
    drawn = {
        name.strip(): len(layers["layers"]) - 1 - i for i, row in enumerate(layers["layers"]) for name in row.split(":")
    }
    assert drawn == {name: level for name, level in LAYER.items() if name != "data"}
    assert "data" in LAYER and not (SRC / "data" / "__init__.py").exists()  # data files, not a package
