"""A TCP link between the engine and Asterisk that a test can cut, like a network fault would
(the product's lab link, with the tap on: tests read what the engine sent)."""

from __future__ import annotations

from ivr.lab import link


class FaultyLink(link.FaultyLink):
    def __init__(self, target_host: str, target_port: int) -> None:
        super().__init__(target_host, target_port, tap=True)
