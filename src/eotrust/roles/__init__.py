"""eotrust.roles: each party's part of a task, one subpackage per role, over the catalogue,
the ledger and the store.

- ``submitter``: ``request`` (choose an application, datasets and a platform; open and lock the
  task) and ``collect`` (fetch, check and decrypt the results);
- ``owners``: ``answer`` (every owner the task names acknowledges or refuses its own request:
  the algorithm owner its application, the platform owner with its input key, each data owner
  with its dataset sealed for the platform);
- ``algorithm_owner``: ``applications`` (publish a workflow, register it) and ``deploy``
  (OGC API - Processes - Part 2);
- ``data_owner``: ``holdings`` (the owner's private index of the files behind its datasets).

The platform owner's part is the running node, in ``eotrust.nodes``.
"""
