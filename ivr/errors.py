"""Errors that mean "the machine or the configuration is not ready", shown to the user as is."""


class SetupError(Exception):
    pass
