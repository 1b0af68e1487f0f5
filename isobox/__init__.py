"""isobox: run untrusted code safely behind one HTTP API."""

__version__ = "0.1.0"
