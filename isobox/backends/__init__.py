"""Execution backends: one module each, behind the `Backend` interface in `base`."""
