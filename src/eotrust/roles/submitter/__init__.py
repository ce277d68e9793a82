"""The task submitter: open and lock a task, then collect its results."""
