"""The language registry: which languages exist and how each one runs.

Languages are data (a YAML file shipped with the package, replaceable by path) so that adding
one is a configuration change.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from isobox.errors import ConfigError

FILE_PLACEHOLDER = "{file}"


class Language(BaseModel):
    """One runnable language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9+#._-]*$")]
    version: str = ""
    aliases: tuple[str, ...] = ()
    file: Annotated[str, Field(description="Main file name in the work directory.")]
    image: str
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    local: tuple[str, ...] | None = None
    env: Annotated[
        dict[str, str], Field(description="Extra environment of both stages (e.g. GOCACHE).")
    ] = {}

    @field_validator("file")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if not value or "/" in value or value in {".", ".."}:
            raise ValueError("must be a plain file name")
        return value

    @field_validator("run")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name a command")
        return value

    def run_command(self, args: list[str]) -> list[str]:
        return [*_fill(self.run, self.file), *args]

    def compile_command(self) -> list[str] | None:
        return None if self.compile is None else _fill(self.compile, self.file)

    def local_command(self, args: list[str]) -> list[str] | None:
        return None if self.local is None else [*_fill(self.local, self.file), *args]


def _fill(template: tuple[str, ...], file: str) -> list[str]:
    return [part.replace(FILE_PLACEHOLDER, file) for part in template]


class LanguageRegistry:
    """Languages by name and alias."""

    def __init__(self, languages: list[Language]) -> None:
        self._by_name: dict[str, Language] = {}
        for language in languages:
            for key in (language.name, *language.aliases):
                if key in self._by_name:
                    raise ConfigError(f"language registry: {key!r} is defined twice")
                self._by_name[key] = language
        self._languages = languages

    def __iter__(self) -> Iterator[Language]:
        return iter(self._languages)

    def get(self, name: str) -> Language | None:
        return self._by_name.get(name.strip().lower())

    def names(self) -> list[str]:
        return [language.name for language in self._languages]

    @classmethod
    def load(cls, path: Path | None = None) -> LanguageRegistry:
        """Load the registry from `path`, or the one shipped with the package."""
        if path is None:
            text = resources.files("isobox").joinpath("languages.yaml").read_text("utf-8")
            source = "the built-in languages.yaml"
        else:
            try:
                text = path.read_text("utf-8")
            except OSError as error:
                raise ConfigError(f"cannot read language registry {path}: {error}") from error
            source = str(path)
        return cls.parse(text, source)

    @classmethod
    def parse(cls, text: str, source: str = "<text>") -> LanguageRegistry:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"{source} is not valid YAML: {error}") from error
        entries = document.get("languages") if isinstance(document, dict) else None
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{source} must have a non-empty 'languages' list")
        try:
            return cls([Language.model_validate(entry) for entry in entries])
        except ValidationError as error:
            raise ConfigError(f"{source}: {error}") from error
