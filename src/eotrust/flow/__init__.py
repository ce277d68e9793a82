"""eotrust.flow: each party's part of the task flow (request, answer, collect) over the
catalogue, the ledger and the store."""
