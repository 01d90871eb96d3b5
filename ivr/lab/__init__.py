"""A lab around the engine: a simulated carrier that places real calls."""
