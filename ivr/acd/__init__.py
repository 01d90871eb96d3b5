"""Automatic call distribution: operators, the daily cap, waiting, offering, bridging."""
