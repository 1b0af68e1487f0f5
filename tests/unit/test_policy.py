"""The request policy refuses bad input by field and clamps nothing silently."""

import pytest

from isobox.errors import PolicyError, RequestProblem
from isobox.languages import LanguageRegistry
from isobox.models import ExecutionRequest, SourceFile
from isobox.policy import build_run_spec, checked_relative_path
from isobox.settings import Settings

REGISTRY = LanguageRegistry.load()


def policy_settings() -> Settings:
    """Built in each test, under its clean environment (never at import)."""
    return Settings(max_code_bytes=2048, max_timeout_s=30, max_memory_mib=512, max_files=2)


def spec_for(**fields):
    request = ExecutionRequest(**{"language": "python", "code": "print(1)", **fields})
    return build_run_spec(request, REGISTRY, policy_settings())


def refusal(**fields) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        spec_for(**fields)
    return caught.value


def test_defaults_come_from_settings():
    spec = spec_for()
    assert spec.limits.timeout_s == policy_settings().default_timeout_s
    assert spec.limits.memory_mib == policy_settings().default_memory_mib
    assert spec.files[0].path == "main.py"
    assert spec.run_command == ["python3", "main.py"]


def test_aliases_resolve_to_the_language():
    assert spec_for(language="PY").language.name == "python"
    assert spec_for(language="js").language.name == "node"


def test_args_follow_the_run_command():
    assert spec_for(args=["a", "b c"]).run_command == ["python3", "main.py", "a", "b c"]


def test_unknown_language_names_the_field_and_the_choices():
    error = refusal(language="cobol")
    assert error.field == "language"
    assert error.problem is RequestProblem.UNKNOWN_LANGUAGE
    assert "python" in error.message


def test_code_over_the_cap_is_too_large():
    error = refusal(code="x" * 4096)
    assert (error.field, error.problem) == ("code", RequestProblem.TOO_LARGE)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": 31}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"memory": 1}, "memory"),
        ({"memory": 10**9}, "memory"),
        ({"args": ["a\x00b"]}, "args[0]"),
        ({"code": "\udcff"}, "code"),
    ],
)
def test_absurd_values_are_refused_by_field(fields, field):
    assert refusal(**fields).field == field


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/../../b", "", "a\\b", "a/", "./a", "a\x00", "x" * 300]
)
def test_file_names_must_stay_inside_the_work_directory(name):
    with pytest.raises(PolicyError):
        checked_relative_path("files[0].name", name)


def test_nested_relative_file_names_are_accepted():
    assert checked_relative_path("f", "pkg/mod.py") == "pkg/mod.py"


def test_extra_files_may_not_replace_the_main_file_or_repeat():
    assert refusal(files=[SourceFile(name="main.py", content="")]).field == "files[0].name"
    twice = [SourceFile(name="a.py", content=""), SourceFile(name="a.py", content="")]
    assert refusal(files=twice).field == "files[1].name"


def test_a_path_cannot_be_both_file_and_directory():
    clash = [SourceFile(name="a", content=""), SourceFile(name="a/b", content="")]
    assert refusal(files=clash).field == "files"


def test_too_many_files_is_refused():
    files = [SourceFile(name=f"f{i}", content="") for i in range(3)]
    assert refusal(files=files).field == "files"


def test_files_keep_their_bytes_after_the_main_file():
    spec = spec_for(files=[SourceFile(name="data/x.txt", content="héllo")])
    assert [f.path for f in spec.files] == ["main.py", "data/x.txt"]
    assert spec.files[1].content == "héllo".encode()


def test_a_compile_step_gets_its_own_limits():
    spec = spec_for(language="c", compile_timeout=20, compile_memory=384, memory=64)
    assert spec.compile_command is not None
    assert (spec.limits.compile_timeout_s, spec.limits.compile_memory_mib) == (20, 384)
    # The sandbox is sized for the larger stage.
    assert spec.sandbox_memory_mib == 384


def test_compile_defaults_come_from_settings_and_stay_within_the_memory_maximum():
    spec = spec_for(language="c")
    assert spec.limits.compile_timeout_s == policy_settings().compile_timeout_s
    assert spec.limits.compile_memory_mib == min(policy_settings().compile_memory_mib, 512)
    small = build_run_spec(
        ExecutionRequest(language="c", code="int main(void){}"),
        REGISTRY,
        Settings(max_memory_mib=128, default_memory_mib=64),
    )
    assert small.limits.compile_memory_mib == 128


def test_an_interpreted_language_ignores_the_compile_memory():
    spec = spec_for(memory=64, compile_memory=500)
    assert spec.sandbox_memory_mib == 64


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"compile_timeout": 0}, "compile_timeout"),
        ({"compile_timeout": 1e9}, "compile_timeout"),
        ({"compile_memory": 8}, "compile_memory"),
        ({"compile_memory": 4096}, "compile_memory"),
    ],
)
def test_absurd_compile_limits_are_refused_by_field(fields, field):
    assert refusal(language="c", **fields).field == field


def test_cpu_time_is_off_unless_asked_and_bounded_by_the_wall_clock_maximum():
    assert spec_for().limits.cpu_time_s == 0
    assert spec_for(cpu_time=0.5).limits.cpu_time_s == 0.5
    assert refusal(cpu_time=31).field == "cpu_time"
    assert refusal(cpu_time=0).field == "cpu_time"
    assert refusal(compile_cpu_time=-1).field == "compile_cpu_time"


def test_cpu_time_goes_into_the_bundle_per_stage():
    from isobox.launcher import bundle_document

    document = bundle_document(
        build_run_spec(
            ExecutionRequest(language="c", code="int main(){}", cpu_time=1.5, compile_cpu_time=2),
            REGISTRY,
            policy_settings(),
        )
    )
    assert document["cpu_time_ms"] == 1500
    assert document["compile"]["cpu_time_ms"] == 2000
