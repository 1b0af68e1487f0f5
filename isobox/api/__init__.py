"""The HTTP layer: the only part of isobox that knows about HTTP."""
