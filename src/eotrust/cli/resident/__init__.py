"""The resident agent of the `eotrust` command (docs/architecture.md, "The resident agent"):
``server`` is the process that keeps the CLI imported and forks a child per command,
``warm`` the embedded chains it keeps open. The client is ``eotrust.cli.client``."""
