"""The security shape of the local and docker sandboxes, as their pure builders make them."""

import pytest

from isobox.backends.bwrap import (
    LAUNCHER_IN_SANDBOX,
    MASKED_PROC_FILES,
    BwrapSandbox,
    bwrap_argv,
    tool_dirs,
)
from isobox.backends.docker_config import container_config, container_name
from isobox.languages import LanguageRegistry
from isobox.models import ExecutionRequest
from isobox.policy import build_run_spec
from isobox.sandbox import LAUNCHER_TASKS, SANDBOX_UID, WORKDIR
from isobox.settings import Settings

EVERYTHING = frozenset(
    {
        "/usr",
        "/etc/ld.so.cache",
        *(f"/proc/{name}" for name in (*MASKED_PROC_FILES, "acpi", "sys", "bus", "fs", "irq")),
    }
)


def spec_for(language: str = "python", **fields):
    request = ExecutionRequest(language=language, code="print(1)", **fields)
    return build_run_spec(request, LanguageRegistry.load(), Settings())


def argv(**shape) -> list[str]:
    defaults = {"bwrap": "/usr/bin/bwrap", "launcher": "/opt/isobox-launch", "scratch_mib": 64}
    return bwrap_argv(BwrapSandbox(**{**defaults, **shape}), EVERYTHING)


def pairs(args: list[str], flag: str) -> list[tuple[str, str]]:
    return [(args[i + 1], args[i + 2]) for i, arg in enumerate(args) if arg == flag]


def test_bwrap_unshares_everything_and_refuses_nested_user_namespaces():
    args = argv()
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent"):
        assert flag in args
    assert "--share-net" not in args
    assert args[args.index("--uid") + 1] == str(SANDBOX_UID)


def test_bwrap_runs_the_launcher_as_pid_1_with_nothing_of_the_run_on_its_command_line():
    args = argv()
    assert args[-2:] == ["--", LAUNCHER_IN_SANDBOX]
    assert "--as-pid-1" in args
    assert ("/opt/isobox-launch", LAUNCHER_IN_SANDBOX) in pairs(args, "--ro-bind")
    assert "--setenv" not in args, "the bundle comes through stdin, the environment is empty"
    assert "--clearenv" in args


def test_bwrap_binds_the_host_read_only_and_only_what_interpreters_need():
    args = argv()
    assert "--bind" not in args
    bound = {source for source, _ in pairs(args, "--ro-bind")}
    assert bound <= {"/usr", "/etc/ld.so.cache", "/opt/isobox-launch", "/dev/null"} | {
        f"/proc/{name}" for name in ("sys", "bus", "fs", "irq")
    }
    # The root is made read-only last, after the writable tmpfs mounts exist.
    assert args[-6:-2] == ["--remount-ro", "/", "--chdir", WORKDIR]


def test_bwrap_masks_proc_as_docker_does():
    args = argv()
    masked = {target for source, target in pairs(args, "--ro-bind") if source == "/dev/null"}
    assert masked == {f"/proc/{name}" for name in MASKED_PROC_FILES}
    assert ("/proc/sys", "/proc/sys") in pairs(args, "--ro-bind")
    tmpfs = [args[i + 1] for i, arg in enumerate(args) if arg == "--tmpfs"]
    assert "/proc/acpi" in tmpfs
    # The mask follows the proc mount (a mask before it would be covered).
    assert args.index("--proc") < args.index("/proc/kcore")


def test_bwrap_sizes_the_writable_directories():
    args = argv(scratch_mib=8)
    assert args[args.index(WORKDIR) - 2 : args.index(WORKDIR) + 1] == [
        str(8 * 1024 * 1024),
        "--tmpfs",
        WORKDIR,
    ]


def test_a_tool_outside_usr_exposes_only_its_bin_and_lib_never_its_prefix(tmp_path):
    prefix = tmp_path / "cargo"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "credentials.toml").write_text("secret")
    tool = prefix / "bin" / "rustc"
    tool.write_text("#!/bin/sh\n")
    dirs = tool_dirs(str(tool))
    assert dirs == (str(prefix / "bin"), str(prefix / "lib"))
    assert str(prefix) not in dirs
    assert tool_dirs("/usr/bin/python3") == ()


def test_docker_container_has_no_network_no_privilege_and_every_limit():
    spec = spec_for(memory=128)
    config = container_config(spec)
    assert config["network_mode"] == "none"
    assert config["read_only"] is True
    assert config["cap_drop"] == ["ALL"]
    assert "no-new-privileges" in config["security_opt"]
    assert config["user"] == f"{SANDBOX_UID}:{SANDBOX_UID}"
    assert config["mem_limit"] == config["memswap_limit"] == "128m"
    assert config["pids_limit"] == spec.limits.pids + LAUNCHER_TASKS  # the launcher's own
    assert config["nano_cpus"] == int(spec.limits.cpus * 1e9)
    assert "privileged" not in config
    assert "noexec" not in config["tmpfs"][WORKDIR]
    assert "exec" not in config["tmpfs"][WORKDIR], "interpreted code needs no executable files"
    assert config["name"] == container_name(spec.run_id)
    assert "runtime" not in config


def test_docker_work_directory_is_executable_only_for_compiled_languages():
    assert ",exec" in container_config(spec_for("c"))["tmpfs"][WORKDIR]


@pytest.mark.parametrize("runtime", ["runsc", "kata"])
def test_docker_runtime_is_named_only_when_configured(runtime):
    assert container_config(spec_for(), runtime)["runtime"] == runtime


def test_under_gvisor_the_program_gets_its_own_process_limit_and_the_host_a_backstop():
    spec = spec_for()
    runc, gvisor = container_config(spec), container_config(spec, "runsc")
    own = spec.limits.pids + LAUNCHER_TASKS
    assert runc["pids_limit"] == own
    assert gvisor["pids_limit"] > 2 * own  # gVisor's tasks and ~2 host tasks per process
    assert bundle_of(runc)["max_processes"] == 0  # uid 10001 is every runc container's
    assert bundle_of(gvisor)["max_processes"] == own  # gVisor counts it per sandbox


def bundle_of(config: dict) -> dict:
    import base64
    import json

    chunks = sorted(
        (int(name.removeprefix("ISOBOX_BUNDLE_")), value)
        for name, value in config["environment"].items()
        if name.startswith("ISOBOX_BUNDLE_")
    )
    return json.loads(base64.b64decode("".join(value for _, value in chunks)))
