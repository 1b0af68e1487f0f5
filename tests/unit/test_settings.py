"""Settings read the environment and refuse unsafe combinations."""

import pytest
from pydantic import ValidationError

from isobox.settings import Settings


def test_port_and_log_level_use_the_plain_variable_names(monkeypatch):
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("ISOBOX_BACKEND", "local")
    settings = Settings()
    assert (settings.port, settings.log_level, settings.backend) == (9001, "debug", "local")


@pytest.mark.parametrize(
    "fields",
    [
        {"default_timeout_s": 100, "max_timeout_s": 10},
        {"default_memory_mib": 4096, "max_memory_mib": 1024},
        {"compile_timeout_s": 200, "max_compile_timeout_s": 120},
        {"backend": "podman"},
        {"port": 0},
        {"pids_limit": 1},
    ],
)
def test_unsafe_or_inconsistent_values_are_refused(fields):
    with pytest.raises(ValidationError):
        Settings(**fields)
