"""The ``merge`` service, run as a command: ``python3 -m eotrust.examples.ndvi_report.merge
PART… -o REPORT`` — one JSON report of every tile's statistics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eotrust.limits import json_loads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("parts", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    tiles = [json_loads(p.read_text()) for p in args.parts]
    pixels = sum(t["pixels"] for t in tiles)
    above = sum(t["above"] for t in tiles)
    report = {"tiles": tiles, "pixels": pixels, "above": above, "share_above": above / pixels if pixels else 0.0}
    args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
