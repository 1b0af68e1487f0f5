"""Route modules, one resource each."""
