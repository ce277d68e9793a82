"""age encryption throughput against a plain file copy.

A 256 MiB random file is copied (``shutil.copyfile``, the reference), encrypted for one
X25519 recipient (``eotrust.crypto.encrypt_file``) and decrypted back
(``decrypt_file``), each timed ROUNDS times interleaved, best kept. Prints MiB/s for each
and the ratios encrypt/copy and decrypt/copy; checks the round trip.

    python benchmarks/crypto.py [--mib 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from _bench import random_file, scratch_dir, timed  # noqa: E402

from eotrust.crypto import decrypt_file, encrypt_file, generate_identity  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    work = scratch_dir("crypto-")
    try:
        src = random_file(work / "random.bin", args.mib)
        identity, recipient = generate_identity()
        copy, ct, back = work / "copy.bin", work / "random.bin.age", work / "back.bin"

        best = {"copy": float("inf"), "encrypt": float("inf"), "decrypt": float("inf")}
        for _ in range(args.rounds):
            for p in (copy, ct, back):
                p.unlink(missing_ok=True)
            best["copy"] = min(best["copy"], timed(lambda: shutil.copyfile(src, copy)))
            best["encrypt"] = min(best["encrypt"], timed(lambda: encrypt_file(src, ct, [recipient])))
            best["decrypt"] = min(best["decrypt"], timed(lambda: decrypt_file(ct, back, identity)))
        if not filecmp.cmp(src, back, shallow=False):
            print("crypto: ROUND TRIP FAILED")
            return 1

        rate = {k: args.mib / v for k, v in best.items()}
        print(f"crypto: {args.mib} MiB random file, age X25519 (pyrage), best of {args.rounds}")
        for k in ("copy", "encrypt", "decrypt"):
            print(f"  {k:8s} {rate[k]:8.1f} MiB/s")
        print(
            f"  encrypt/copy = {rate['encrypt'] / rate['copy']:.2f}   decrypt/copy = {rate['decrypt'] / rate['copy']:.2f}"
        )
        print(f"  ciphertext overhead {ct.stat().st_size - src.stat().st_size} bytes")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
