"""A validated run: what a backend executes, trusting every field (made by the policy)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from isobox.languages import Language

MIB = 1024 * 1024
# What a case costs the sandbox beyond its own timeout, at most: the launcher reads its
# pipes up to 1 s after it ended, reaps up to 1 s, and restores the work directory.
CASE_SLACK_S = 2.5


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
    output_files: int = 16
    """Most files `outputs` sends back."""
    output_files_bytes: int = 4 * MIB
    """Bytes of all output files together; a file past it is cut and flagged."""
    tests_output_bytes: int = 16 * MIB
    """Bytes of stdout and stderr of all test cases together (each stream also within
    output_bytes); a case's stream past it is cut, its verdict output_limit_exceeded."""

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


class CaseSpec(BaseModel):
    """One checked test case."""

    model_config = ConfigDict(frozen=True)

    stdin: bytes
    args: tuple[str, ...] = ()
    """Appended to the run's own args."""
    expected_output: str | None = None


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
    tests: tuple[CaseSpec, ...] = ()
    """Test cases; empty: one run with `stdin`."""
    compare: str = "trailing_whitespace"
    stop_on_failure: bool = False
    outputs: tuple[str, ...] = ()
    """Globs of files to send back after the run (never with tests)."""

    @property
    def run_command(self) -> list[str]:
        return self.language.run_command(list(self.args))

    @property
    def compile_command(self) -> list[str] | None:
        return self.language.compile_command()

    @property
    def sandbox_memory_mib(self) -> int:
        return self.limits.sandbox_memory_mib(self.compile_command is not None)

    @property
    def total_run_seconds(self) -> float:
        """The longest the launcher's stages may take together: the compile step, then the
        program once, or once per test case (with each case's slack). Every backstop
        deadline (container wait, pod activeDeadlineSeconds, CodeRun wait) starts from it."""
        compile_s = self.limits.compile_timeout_s if self.compile_command is not None else 0
        if not self.tests:
            return compile_s + self.limits.timeout_s
        return compile_s + len(self.tests) * (self.limits.timeout_s + CASE_SLACK_S)

    @property
    def output_budget_bytes(self) -> int:
        """The most raw bytes of output the launcher may frame for this run: both streams of
        each stage (all cases within their shared budget) and the output files."""
        streams = 2 * self.limits.output_bytes
        compile_bytes = streams if self.compile_command is not None else 0
        run_bytes = streams
        if self.tests:
            run_bytes = min(len(self.tests) * streams, self.limits.tests_output_bytes)
        files = self.limits.output_files_bytes if self.outputs else 0
        return compile_bytes + run_bytes + files
