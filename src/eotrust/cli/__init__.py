"""The `eotrust` command line: thin typer shells over library functions."""
