"""The registry is data: it loads, rejects broken entries, and fills command templates."""

import pytest

from isobox.errors import ConfigError
from isobox.languages import LanguageRegistry


def test_builtin_registry_has_the_promised_languages():
    assert {"python", "node", "bash"} <= set(LanguageRegistry.load().names())


def test_templates_put_the_file_then_the_args():
    registry = LanguageRegistry.parse(
        """
languages:
  - {name: c, file: main.c, image: i:1, run: ["./main"], compile: [gcc, -o, main, "{file}"]}
"""
    )
    language = registry.get("c")
    assert language is not None
    assert language.compile_command() == ["gcc", "-o", "main", "main.c"]
    assert language.run_command(["x"]) == ["./main", "x"]
    assert language.local_command([]) is None


@pytest.mark.parametrize(
    "text",
    [
        "not: [valid",
        "languages: []",
        "languages: [{name: x}]",
        "languages: [{name: x, file: a/b, image: i, run: [x]}]",
        "languages: [{name: x, file: a, image: i, run: [x], typo: 1}]",
        "languages: [{name: x, file: a, image: i, run: [x]}, {name: y, aliases: [x], file: a, image: i, run: [y]}]",
    ],
)
def test_broken_registries_are_refused_with_a_config_error(text):
    with pytest.raises(ConfigError):
        LanguageRegistry.parse(text)


def test_a_missing_registry_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        LanguageRegistry.load(tmp_path / "missing.yaml")
