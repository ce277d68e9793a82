"""The collector: records on the contract what the runner made, and closes the task.

For a Running task whose journal holds results, it adds each result's CID that the contract
does not hold yet (in the journal's order), records each result in the catalogue (signed by
the platform owner), then calls ``finish``. For a journal holding a failure log it calls
``fail`` with the log's CID instead. Both read the contract first, so running it again after
a crash at any point records nothing twice and loses nothing.

A paid task (issue 15; created ``paid``, locked by its escrow when funded) is closed through
the escrow instead: Finished by ``settle`` (the platform's signed usage record, measured from
the run record, pays each payee for actual use, never above the funded quote), and a Failed
or Nacked one is released by ``refund`` (all back, or the quote's failure fee to the platform).
One still waiting for answers or running when its quote's deadline has passed can no longer be
settled: the platform expires it (``expire``: the task ends Expired, the submitter gets all back)
rather than start or finish it for nothing. Nor does it start one whose quote's own estimated
duration no longer fits before the deadline (:meth:`Collector.fits_before_deadline`): the run
would end after it, unsettled, and the task expires at the deadline instead.
"""

from __future__ import annotations

from decimal import Decimal

from eotrust.catalog.entries import ResultInfo
from eotrust.errors import BackendUnavailableError, EotrustError, StateError
from eotrust.ledger import TaskClient, TaskSnapshot
from eotrust.ledger.escrow import EscrowClient
from eotrust.ledger.escrow import Quote as EscrowQuote
from eotrust.nodes.journal import SealedResult, TaskJournal
from eotrust.nodes.runner import PlatformContext, short


class Collector:
    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx

    def collect(self, task: TaskClient, snap: TaskSnapshot, entry: TaskJournal) -> None:
        ctx = self.ctx
        if entry.failure_log_cid:
            ctx.log(f"task {short(task.address)}: recording the failure (log {entry.failure_log_cid})")
            if entry.failure_log is not None:  # its plaintext CID, signed, for the submitter to check
                self._catalogue(task.address, entry, entry.failure_log)
            task.fail(ctx.party.account, entry.failure_log_cid)
            ctx.report(task.address, "Failed")
            self.release(task)  # paid task: the failure fee to the platform, the rest back
            return
        if not entry.results:
            return
        recorded = snap.result_cids
        for result in entry.results:
            if result.cid not in recorded:
                task.add_result(ctx.party.account, result.cid, owner=snap.submitter)
                ctx.log(f"task {short(task.address)}: result {result.name!r} recorded on the contract: {result.cid}")
            self._catalogue(task.address, entry, result)
        # PAID TASKS (issue 15, marketplug): settle through the escrow instead of finish.
        # This supersedes any refusal of paid tasks added here by the gas/escrow-hook merge.
        escrow = self._escrow(task)
        if escrow is not None:
            self._settle(task, escrow)
        else:
            task.finish(ctx.party.account)
        ctx.report(task.address, "Finished")
        ctx.log(f"task {short(task.address)}: finished with {len(entry.results)} result(s)")

    # -- paid tasks (issue 15) ---------------------------------------------------------------
    def _escrow(self, task: TaskClient) -> EscrowClient | None:
        """The escrow of ``task`` if it is paid, else None."""
        escrow = EscrowClient.for_task(self.ctx.chain, task.address)
        return escrow if escrow.required(task.address) else None

    def _settle(self, task: TaskClient, escrow: EscrowClient) -> None:
        """Record the usage against the funded quote (signed, by CID) and settle: the task is
        Finished and each payee owed its share in the same transaction."""
        from eotrust.market.service import usage_task

        ctx = self.ctx
        funded = escrow.quote_of(task.address)
        if funded is None:  # cannot happen: a paid task is Running only once funded
            raise StateError(f"paid task {task.address} was never funded")
        usage = usage_task(
            ctx.settings,
            ctx.catalog,
            ctx.shared,
            task.address,
            ctx.party,
            quote_cid=funded.quote_cid,
            recorded=frozenset(task.status().result_cids),
            chain=ctx.chain,
        )
        tx = escrow.settle(task.address, usage.cid, usage.amounts, sender=ctx.party.account, quote=funded)
        ctx.log(
            f"task {short(task.address)}: settled: charged {usage.body.charged} wei, "
            f"{usage.body.refund} wei back to the submitter (usage {usage.cid}, tx {tx.tx_hash})"
        )

    def expire_if_late(self, task: TaskClient) -> tuple[bool, EscrowQuote | None]:
        """Expire a paid task still funded whose quote's deadline has passed (chain time): it
        can no longer be settled. ``(expired here, the funded escrow quote whose deadline is
        still ahead, or None)``."""
        escrow = self._escrow(task)
        if escrow is None or not escrow.funded(task.address):
            return False, None
        funded = escrow.quote_of(task.address)
        if funded is None:
            return False, None
        if self.ctx.chain.latest_timestamp() <= funded.deadline:
            return False, funded
        tx = escrow.expire(task.address, sender=self.ctx.party.account, quote=funded)
        self.ctx.report(task.address, "Expired")
        self.ctx.log(
            f"task {short(task.address)}: its quote's deadline passed before it was settled: expired, "
            f"{funded.total} wei back to the submitter (tx {tx.tx_hash})"
        )
        return True, None

    def fits_before_deadline(self, funded: EscrowQuote) -> bool:
        """Whether the quote a task was ``funded`` with (its escrow terms, as ``expire_if_late``
        gives them) estimates a run that, from the chain's clock now, ends by its deadline: the
        platform's own estimate, signed in the quote the terms name. A quote the node cannot
        read gives no estimate: the task is started as before (it cannot be settled from a usage
        record then, and the collector says so; the platform may settle it itself)."""
        from eotrust.market.quote import load_quote

        try:
            quote = load_quote(self.ctx.shared, str(funded.quote_cid), self.ctx.catalog, chain=self.ctx.chain.key)
        except BackendUnavailableError:
            raise
        except EotrustError:
            return True
        return self.ctx.chain.latest_timestamp() + Decimal(quote.body.estimated_duration_s) <= funded.deadline

    def release(self, task: TaskClient) -> None:
        """Refund a Failed or Nacked paid task still funded (anyone may; the platform does)."""
        escrow = self._escrow(task)
        if escrow is None or not escrow.funded(task.address):
            return
        tx = escrow.refund(task.address, sender=self.ctx.party.account)
        self.ctx.log(f"task {short(task.address)}: escrow released (tx {tx.tx_hash})")

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
                chain=self.ctx.chain.key,
            ),
        )
