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


def test_the_harness_variables_tests_keep_are_no_settings():
    """tests/helpers/environment.py keeps a few ISOBOX_* knobs of the test harness; none of them
    may be a setting, or a developer's shell could change what a test sees."""
    from tests.helpers.environment import HARNESS_VARIABLES, clean_environment, is_setting

    settings_variables = {f"ISOBOX_{name.upper()}" for name in Settings.model_fields}
    assert HARNESS_VARIABLES.isdisjoint(settings_variables)
    assert [is_setting(name) for name in ("ISOBOX_BACKEND", "PORT", "LOG_LEVEL")] == [True] * 3
    kept = clean_environment(ISOBOX_HELM="/x/helm", ISOBOX_MAX_TIMEOUT_S="1")
    assert (kept["ISOBOX_HELM"], kept["ISOBOX_MAX_TIMEOUT_S"]) == ("/x/helm", "1")


def test_no_test_inherits_a_setting_from_the_shell():
    from tests.helpers.environment import inherited_settings

    assert inherited_settings() == []
