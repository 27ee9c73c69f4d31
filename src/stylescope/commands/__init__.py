"""Subcommands of the `stylescope` CLI, one module each; see `stylescope.cli`."""


class CommandError(Exception):
    """A user error in a command's options or inputs: printed without a traceback."""
