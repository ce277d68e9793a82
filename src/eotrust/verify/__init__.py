"""eotrust.verify: check a result or a task end to end (see ``verifier``)."""

from eotrust.verify.verifier import Check, Verdict, verify

__all__ = ["Check", "Verdict", "verify"]
