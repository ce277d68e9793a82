"""eotrust.ml imports flow one way: no module of ml/ reaches itself through its imports.

Every import counts, at module level, inside functions and under TYPE_CHECKING: a cycle hidden
in a function is still a cycle of concepts. The ranks below are the intended order (a module
may import only modules of a lower rank); a module missing from them fails the test.
"""

from __future__ import annotations

import ast
from pathlib import Path

ML = Path(__file__).resolve().parents[2] / "src" / "eotrust" / "ml"

#: The picture (docs/architecture.md, "ml/"): foundations, then running a model, then the
#: three stages, then what combines them. ``scoring``, ``package`` and ``onnx_export`` form the
#: ONNX side.
RANK = {
    "ml.models.base": -1,  # the Network every architecture extends
    "ml.models": 0,
    "ml.modeldefs": 0,
    "ml.models.enet": 0,
    "ml.models.temporal": 0,
    "ml.uncertainty": 0,
    "ml.ort_memory": 0,  # the process's capped onnxruntime arena
    "ml.modeldef": 1,
    "ml.metrics": 1,
    "ml.package": 1,
    "ml.data": 2,
    "ml.checkpoint": 2,
    "ml.inference": 2,
    "ml.figures": 2,
    "ml.distributed": 2,
    "ml.scoring.batcher": 1,
    "ml.scoring.watchdog": 0,
    "ml.scoring.npy_header": 0,  # a .npy array's header, read before its data
    "ml.scoring.batch": 2,
    "ml.scoring.scene": 3,
    "ml.scoring.stream": 3,
    "ml.scoring": 4,
    "ml.train": 3,
    "ml.predict": 3,
    "ml.registry": 5,
    # onnx_export reads checkpoints through the trainer's re-export of ml.checkpoint.load_checkpoint
    "ml.onnx_export": 4,
    "ml.evaluate": 4,
    "ml.change": 4,
    "ml.active": 4,
    "ml.launch": 4,
    "ml.quantize": 4,
    "ml.landcover": 5,
    "ml": 6,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ML.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def ml_imports(path: Path) -> set[str]:
    """The ml modules ``path`` imports (``from eotrust.ml.x import y`` names ml.x, or ml.x.y
    when y is itself a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.startswith("eotrust.ml") and name.removeprefix("eotrust.") in RANK:
                found.add(name.removeprefix("eotrust."))
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): ml_imports(p) - {module_name(p)} for p in sorted(ML.rglob("*.py"))}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk (one path per back edge)."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_every_ml_module_has_a_rank() -> None:
    assert sorted(set(graph()) - set(RANK)) == []


def test_ml_has_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_ml_imports_flow_down_the_ranks() -> None:
    upward = [
        f"{a} (rank {RANK[a]}) imports {b} (rank {RANK[b]})"
        for a, targets in graph().items()
        for b in sorted(targets)
        if a != "ml" and not b.startswith(f"{a}.") and RANK[b] >= RANK[a]
    ]
    assert upward == []


def test_the_check_sees_a_cycle(tmp_path: Path) -> None:
    assert cycles({"ml.train": {"ml.evaluate"}, "ml.evaluate": {"ml.figures"}, "ml.figures": {"ml.train"}}) == [
        ["ml.evaluate", "ml.figures", "ml.train", "ml.evaluate"]
    ]
    text = "from eotrust.ml.train import x\n\ndef f():\n    from eotrust.ml import figures\n    import eotrust.ml.predict\n"
    (tmp_path / "m.py").write_text(text)
    assert ml_imports(tmp_path / "m.py") == {"ml", "ml.train", "ml.figures", "ml.predict"}
