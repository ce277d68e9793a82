"""The market: prices in the catalogue, estimates, signed quotes, usage records, bills and
data-use policies (issue 15, the off-chain half).

- :mod:`.signed`: a document signed by one party (EIP-191 over canonical JSON), stored by CID;
- :mod:`.prices`: the rates a task is charged, read from the signed catalogue records;
- :mod:`.estimate`: duration and resources of a run, from the workflow's declared resources
  and the measured durations of past runs of the same workflow;
- :mod:`.quote`: the platform's signed, itemised quote with an expiry;
- :mod:`.usage`: the platform's signed usage record, measured from the run record, never
  above the quote;
- :mod:`.payments`: the interface the on-chain escrow is read and settled through;
- :mod:`.bill`: quoted, used, paid, to whom, with the transaction hashes;
- :mod:`.policy`: a dataset's data-use policy, checked before its owner lets a task use it.
"""
