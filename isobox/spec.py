"""A validated run: what a backend executes, trusting every field (made by the policy)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from isobox.languages import Language


class Limits(BaseModel):
    """Resource limits one run gets, already checked against the server maxima."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float
    memory_mib: int
    cpus: float
    pids: int
    output_bytes: int
    scratch_mib: int
    compile_timeout_s: float
    compile_memory_mib: int
    cpu_time_s: float = 0.0
    """CPU-time limit of the run stage over its process tree; 0: none."""
    compile_cpu_time_s: float = 0.0

    def sandbox_memory_mib(self, compiles: bool) -> int:
        """The memory of the whole sandbox: enough for its largest stage.

        The launcher holds the smaller stage to its own limit inside it.
        """
        return max(self.memory_mib, self.compile_memory_mib) if compiles else self.memory_mib


class WorkFile(BaseModel):
    """A file as it is written into the sandbox work directory."""

    model_config = ConfigDict(frozen=True)

    path: str
    content: bytes


class RunSpec(BaseModel):
    """A validated run: what a backend executes, trusting every field."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    language: Language
    files: tuple[WorkFile, ...]
    """The main file first, then the extra files."""
    args: tuple[str, ...]
    stdin: bytes
    limits: Limits

    @property
    def run_command(self) -> list[str]:
        return self.language.run_command(list(self.args))

    @property
    def compile_command(self) -> list[str] | None:
        return self.language.compile_command()

    @property
    def sandbox_memory_mib(self) -> int:
        return self.limits.sandbox_memory_mib(self.compile_command is not None)
