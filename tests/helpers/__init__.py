"""Helpers the tests import (never from a conftest.py): waiting, processes, a real server, the
fake backend, the leak detector."""
