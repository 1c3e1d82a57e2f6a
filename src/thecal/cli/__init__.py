"""The `thecal` command: thin wiring from the shell to the layers below."""
