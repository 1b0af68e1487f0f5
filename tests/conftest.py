"""Shared across every test folder: no test inherits the developer's isobox settings.

Helpers live in tests/helpers/ (imported from there, never from a conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.environment import inherited_settings


@pytest.fixture(scope="session", autouse=True)
def _no_inherited_settings_in_session() -> Iterator[None]:
    """Before any fixture of any scope builds Settings or starts a server."""
    with pytest.MonkeyPatch.context() as patch:
        for name in inherited_settings():
            patch.delenv(name)
        yield


@pytest.fixture(autouse=True)
def _no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without ISOBOX_* settings, LOG_LEVEL and PORT (whatever an earlier test
    or fixture set); a test that needs one sets it with monkeypatch."""
    for name in inherited_settings():
        monkeypatch.delenv(name)
