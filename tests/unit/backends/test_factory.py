"""`auto` picks docker where an engine is configured and never falls back quietly."""

import pytest

from isobox.backends import factory
from isobox.errors import ConfigError
from isobox.settings import Settings


def test_auto_refuses_to_start_when_the_configured_engine_does_not_answer(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody-listens.sock")
    with pytest.raises(ConfigError, match=r"configured .* does not answer"):
        factory.create_backend(Settings(backend="auto"))


def test_auto_refuses_when_the_default_socket_exists_but_is_dead(monkeypatch, tmp_path):
    dead = tmp_path / "docker.sock"
    dead.touch()
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(factory, "DEFAULT_SOCKET", str(dead))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{dead}")
    with pytest.raises(ConfigError, match="ISOBOX_BACKEND=local"):
        factory.auto_backend()


def test_auto_is_local_only_where_no_engine_is_configured(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(factory, "DEFAULT_SOCKET", str(tmp_path / "absent.sock"))
    assert factory.auto_backend() == "local"
