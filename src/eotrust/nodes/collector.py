"""The collector: records on the contract what the runner made, and closes the task.

For a Running task whose journal holds results, it adds each result's CID that the contract
does not hold yet (in the journal's order), records each result in the catalogue (signed by
the platform owner), then calls ``finish``. For a journal holding a failure log it calls
``fail`` with the log's CID instead. Both read the contract first, so running it again after
a crash at any point records nothing twice and loses nothing.

A paid task (:mod:`eotrust.ledger.escrow`) is finished only by the escrow's ``settle``, with
the CID of the platform's signed usage record and the actual amount per payee. Nothing in
eotrust produces that usage record yet, and settling for the quoted maxima would charge the
submitter for use nobody measured, so the collector records the results and leaves the task
Running: it says, once per task, that the task waits for the platform's settlement.
"""

from __future__ import annotations

from eotrust.catalog.entries import ResultInfo
from eotrust.ledger import TaskClient, TaskSnapshot
from eotrust.nodes.journal import SealedResult, TaskJournal
from eotrust.nodes.runner import PlatformContext, short


class Collector:
    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx
        self._awaiting_settlement: set[str] = set()  # paid tasks already reported as waiting

    def collect(self, task: TaskClient, snap: TaskSnapshot, entry: TaskJournal) -> None:
        ctx = self.ctx
        if entry.failure_log_cid:
            ctx.log(f"task {short(task.address)}: recording the failure (log {entry.failure_log_cid})")
            if entry.failure_log is not None:  # its plaintext CID, signed, for the submitter to check
                self._catalogue(task.address, entry, entry.failure_log)
            task.fail(ctx.party.account, entry.failure_log_cid)
            ctx.report(task.address, "Failed")
            return
        if not entry.results:
            return
        recorded = snap.result_cids
        for result in entry.results:
            if result.cid not in recorded:
                task.add_result(ctx.party.account, result.cid, owner=snap.submitter)
                ctx.log(f"task {short(task.address)}: result {result.name!r} recorded on the contract: {result.cid}")
            self._catalogue(task.address, entry, result)
        if task.payment_required():
            if task.address not in self._awaiting_settlement:
                self._awaiting_settlement.add(task.address)
                ctx.log(
                    f"task {short(task.address)}: paid — {len(entry.results)} result(s) recorded; it waits for"
                    " the platform's settlement (the escrow's settle, with a usage record), which finishes it"
                )
            return
        task.finish(ctx.party.account)
        ctx.report(task.address, "Finished")
        ctx.log(f"task {short(task.address)}: finished with {len(entry.results)} result(s)")

    def _catalogue(self, address: str, entry: TaskJournal, result: SealedResult) -> None:
        catalog = self.ctx.catalog
        if any(r.owner == self.ctx.address for r in catalog.results(task=address, cid=result.cid)):
            return
        catalog.register(
            self.ctx.party,
            ResultInfo(
                task=address,
                name=result.name,
                cid=result.cid,
                plaintext_cid=result.plaintext_cid,
                size=result.size,
                run_cid=entry.run_cid or "",
                recipient=result.recipient,
            ),
        )
