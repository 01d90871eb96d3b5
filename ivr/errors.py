"""Errors a command shows to the user as is, without a traceback: the machine or the configuration
is not ready, or the command was asked for something that cannot be."""


class SetupError(Exception):
    pass


class UsageError(SetupError):
    """A command asked for something that cannot be (bad arguments, a feature switched off)."""
