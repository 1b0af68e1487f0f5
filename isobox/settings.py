"""The one settings object, read from the environment by the app factory and passed down.

Every limit has a default (what a run gets when the request says nothing) and a maximum
(what a request may ask for). Values that would make the service unsafe are refused at start.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from isobox.errors import ConfigError

BackendName = Literal["auto", "local", "docker", "kubernetes", "coderun"]

MIB = 1024 * 1024


class Settings(BaseSettings):
    """isobox configuration; each field is read from `ISOBOX_<FIELD>` unless it says otherwise."""

    model_config = SettingsConfigDict(
        env_prefix="ISOBOX_", extra="ignore", frozen=True, populate_by_name=True
    )

    host: str = "127.0.0.1"
    """Address the API listens on (the container image sets 0.0.0.0)."""
    port: Annotated[
        int, Field(ge=1, le=65535, validation_alias=AliasChoices("PORT", "ISOBOX_PORT"))
    ] = 8000
    """TCP port of the API; read from `PORT`."""
    log_level: Annotated[
        str, Field(validation_alias=AliasChoices("LOG_LEVEL", "ISOBOX_LOG_LEVEL"))
    ] = "info"
    """Log level (debug, info, warning, error); read from `LOG_LEVEL`."""
    shutdown_grace_s: Annotated[float, Field(ge=0, le=3600)] = 10.0
    """On SIGTERM, how long runs in flight may finish before they are stopped and cleaned up."""
    api_key_hashes: str = ""
    """Comma-separated SHA-256 digests of the accepted API keys (`isobox hash-key KEY`);
    empty turns API keys off."""
    api_key_hashes_file: Path | None = None
    """A file of such digests, one per line (e.g. a mounted Kubernetes Secret)."""
    backend: BackendName = "auto"
    """Where runs happen: auto picks docker when its socket answers, else local."""
    languages_file: Path | None = None
    """A language registry YAML replacing the built-in one."""

    default_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    """Wall-clock limit of a run whose request sets none."""
    max_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    """The largest wall-clock limit a request may ask for."""
    compile_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    """Wall-clock limit of a compile step whose request sets none."""
    max_compile_timeout_s: Annotated[float, Field(gt=0, le=600)] = 120.0
    """The largest compile-step limit a request may ask for."""
    compile_memory_mib: Annotated[int, Field(ge=16, le=65536)] = 512
    """Memory limit of a compile step whose request sets none (at most max_memory_mib)."""
    default_memory_mib: Annotated[int, Field(ge=16)] = 256
    """Memory limit (no swap) of a run whose request sets none."""
    max_memory_mib: Annotated[int, Field(ge=16, le=65536)] = 2048
    """The largest memory limit a request may ask for."""
    cpus: Annotated[float, Field(gt=0, le=64)] = 1.0
    """CPU cores a run may use."""
    pids_limit: Annotated[int, Field(ge=8, le=32768)] = 64
    """Processes and threads a run may have at once."""
    output_limit_bytes: Annotated[int, Field(ge=1024, le=64 * MIB)] = MIB
    """Bytes kept per output stream; the rest is discarded and the stream marked truncated."""
    scratch_mib: Annotated[int, Field(ge=1, le=4096)] = 64
    """Size of the writable work directory (and, separately, of /tmp)."""

    max_code_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024
    """Largest accepted main file."""
    max_files: Annotated[int, Field(ge=0, le=1000)] = 32
    """Most extra files a request may carry."""
    max_files_bytes: Annotated[int, Field(ge=0)] = 512 * 1024
    """Largest total size of the extra files."""
    max_stdin_bytes: Annotated[int, Field(ge=0)] = 256 * 1024
    """Largest accepted standard input."""
    max_args: Annotated[int, Field(ge=0, le=4096)] = 64
    """Most command-line arguments a request may carry."""
    max_arg_bytes: Annotated[int, Field(ge=1)] = 4096
    """Longest single command-line argument."""
    max_tests: Annotated[int, Field(ge=0, le=1000)] = 64
    """Most test cases (`tests`) a request may carry."""
    max_tests_stdin_bytes: Annotated[int, Field(ge=0)] = 256 * 1024
    """Largest total stdin of all test cases (each also within max_stdin_bytes); it travels
    in the sandbox's bundle beside the code and files."""
    max_tests_expected_bytes: Annotated[int, Field(ge=0)] = 256 * 1024
    """Largest total `expected_output` of all test cases (each also within
    output_limit_bytes)."""
    max_tests_output_bytes: Annotated[int, Field(ge=1024, le=64 * MIB)] = 16 * MIB
    """Bytes of stdout and stderr all test cases of a run may print together (each stream
    also within output_limit_bytes); a case cut by it is output_limit_exceeded."""
    max_output_files: Annotated[int, Field(ge=0, le=1000)] = 16
    """Most files (and globs) `outputs` may send back."""
    max_output_bytes: Annotated[int, Field(ge=0, le=64 * MIB)] = 4 * MIB
    """Bytes of all output files of a run together; a file past it is cut and flagged."""
    max_body_bytes: Annotated[int, Field(ge=4096)] = 2 * MIB
    """Largest accepted HTTP request body."""
    max_concurrent_runs: Annotated[int, Field(ge=1, le=4096)] = 64
    """Runs in flight at once; further requests wait for a slot."""

    pool_size: str = "python=2,node=1"
    """Warm sandboxes kept ready per language (`python=4,node=2`; empty: no pool). Each is
    provisioned ahead with the default limits, proven isolated, used by exactly one run whose
    limits fit in it, then destroyed; other runs, and runs that find the pool empty, go cold."""
    pool_max_idle_s: Annotated[float, Field(ge=5, le=86400)] = 300.0
    """A warm sandbox unclaimed this long is replaced (its launcher also ends itself then)."""
    pool_max_provisioning: Annotated[int, Field(ge=1, le=64)] = 1
    """Warm sandboxes being made at once, so refilling never starves cold runs of CPU."""

    max_queued_runs: Annotated[int, Field(ge=0, le=100_000)] = 64
    """Requests that may wait for a run slot; beyond that the service answers 503 at once."""
    rate_limit_per_minute: Annotated[int, Field(ge=0)] = 0
    """Executions one client (API key, or address without keys) may start per minute; 0: off."""
    max_in_flight_per_client: Annotated[int, Field(ge=0)] = 0
    """Executions one client may have running or queued at once (`POST /runs` runs count until
    they end); 0: off."""
    max_in_flight_coderuns_per_client: Annotated[int, Field(ge=0, le=100_000)] = 16
    """coderun backend: CodeRuns one client's `POST /runs` may have unfinished at once (counted
    from the cluster by their owner label before each is created); beyond that a 429. Two
    replicas deciding at the same moment may let one or two more through; the namespace's
    `count/coderuns.isobox.dev` ResourceQuota is the hard bound. 0: off."""
    max_stored_runs: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    """Asynchronous runs the API process keeps (running, or finished and not yet expired) on
    backends that keep runs in memory; the oldest finished go first, and when all are running
    `POST /runs` answers 503."""
    max_stored_runs_per_client: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    """The same, per client; when all of a client's are running `POST /runs` answers 429."""
    readyz_cache_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    """How long `/readyz` reuses the backend's last answer, so probes cannot flood it."""
    max_connections: Annotated[int, Field(ge=1, le=1_000_000)] = 512
    """Connections (and requests) the server holds at once; beyond that it answers 503."""
    max_header_bytes: Annotated[int, Field(ge=4096, le=1024 * 1024)] = 16 * 1024
    """Largest request line plus headers the server reads before refusing the request."""

    local_sandbox_uid: Annotated[int, Field(ge=1)] = 65534
    """Host uid the local backend's sandboxes run as when the service runs as root."""
    local_cgroup_root: str = "isobox"
    """cgroup (v1 hierarchy or v2 subtree) under which the local backend puts each run."""
    local_allow_unlimited: bool = False
    """Let the local backend run where it gets no writable cgroups, so with no memory, CPU
    or cgroup process limit (the launcher's per-run process limit still holds); off, such a
    host is unready and runs are refused."""
    local_launcher: Path | None = None
    """The isobox-launch binary the local backend runs every program under (`make venv`
    builds it into the virtualenv); unset: looked up beside the Python executable, then on
    PATH. Without it the local backend is unready."""

    docker_run_timeout_grace_s: Annotated[float, Field(ge=1)] = 10.0
    """How long past a run's timeout the docker backend waits before killing the container."""
    docker_runtime: str = ""
    """OCI runtime of sandbox containers as the Docker engine names it (`runsc` for gVisor,
    registered by `hack/dockerd.sh`); empty: the engine's default. A runtime the engine does
    not know makes the backend unready: runs are refused, never run under another runtime."""

    kubernetes_namespace: str = "isobox-sandbox"
    """Namespace of sandbox pods and CodeRuns."""
    kubernetes_image_pull_policy: Literal["IfNotPresent", "Never", "Always"] = "IfNotPresent"
    """Pull policy of sandbox pods."""
    kubernetes_isolation_wait_s: Annotated[float, Field(ge=0, le=300)] = 30.0
    """How long a sandbox pod waits for its deny-all policy to be enforced before refusing to
    run (0 skips the check, for clusters whose network plugin enforces policy synchronously)."""
    kubernetes_start_timeout_s: Annotated[float, Field(gt=0)] = 120.0
    """How long a sandbox pod may take to be scheduled and started."""
    kubernetes_runtime_class: str = ""
    """RuntimeClass of sandbox pods (e.g. `gvisor`); empty: the cluster's default runtime."""
    kubernetes_dns_probe: str = "10.96.0.10:53"
    """An address (host:port) sandbox pods also probe before their program starts, which must
    refuse TCP connections as the API server and kubelet must: the cluster DNS service (the
    conventional kube-dns ClusterIP of a 10.96.0.0/12 service range), so a policy that lets
    sandboxes reach DNS fails the pod closed; empty: no such probe."""
    kubernetes_per_run_uid: bool = True
    """Run each sandbox pod as a uid of its own (derived from the run id, above 1000000), so the
    launcher's per-run process limit (RLIMIT_NPROC, counted per uid) contains a fork bomb
    even where the kubelet sets no podPidsLimit."""
    coderun_retention_s: Annotated[float, Field(ge=0)] = 7 * 24 * 3600.0
    """How long finished CodeRuns are kept (the audit window)."""
    coderun_gc_interval_s: Annotated[float, Field(ge=1)] = 60.0
    """How often the operator looks for CodeRuns past the retention time."""
    coderun_output_limit_bytes: Annotated[int, Field(ge=1024, le=512 * 1024)] = 256 * 1024
    """Bytes kept per stream in a CodeRun status (objects must stay small in etcd)."""
    operator_health_port: Annotated[int, Field(ge=0, le=65535)] = 0
    """Port of the operator's liveness endpoint (`GET /healthz` on all addresses), which
    answers while its event loop does; 0: none. The chart sets 8080 and probes it."""

    judge0_cpu_time_limit_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    """CPU-time limit of a Judge0 submission that sets no `cpu_time_limit` (Judge0's
    CPU_TIME_LIMIT; at most max_timeout_s)."""
    judge0_max_batch_size: Annotated[int, Field(ge=1, le=1000)] = 20
    """Most submissions one Judge0 batch may create or read (Judge0's MAX_SUBMISSION_BATCH_SIZE)."""

    callback_allowed_hosts: str = ""
    """Comma-separated host names (or IP addresses) completion callbacks may go to; empty:
    callbacks are off and a `callback_url` is refused."""
    callback_secret: SecretStr = SecretStr("")
    """Key of the `X-Isobox-Signature` HMAC-SHA256 of every callback body; required when
    callbacks are on."""
    callback_allow_private: bool = False
    """Let callbacks go to private addresses (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10)."""
    callback_deny_cidrs: str = "127.0.0.0/8,::1/128,10.96.0.0/12"
    """Networks callbacks never go to, whatever a listed name resolves to: loopback and the
    cluster's service range by default. Link-local (the metadata address 169.254.169.254
    included), unspecified, multicast and reserved addresses are always refused."""
    callback_max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    """Deliveries tried per callback before giving up."""
    callback_retry_base_s: Annotated[float, Field(gt=0, le=300)] = 4.0
    """Wait before the second try; it doubles before each further one (4, 8, 16, 32 s)."""
    callback_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    """Time one delivery (connect, send, answer) may take."""

    def pool_sizes(self) -> dict[str, int]:
        """`pool_size` as language -> count (a ConfigError names a malformed entry)."""
        sizes: dict[str, int] = {}
        for entry in filter(None, (part.strip() for part in self.pool_size.split(","))):
            name, _, count = entry.partition("=")
            if not name.strip() or not count.strip().isdigit() or int(count) > 64:
                raise ConfigError(
                    f"ISOBOX_POOL_SIZE entry {entry!r} is not LANGUAGE=COUNT (0 to 64)"
                )
            if int(count):
                sizes[name.strip()] = int(count)
        return sizes

    def api_key_digests(self) -> frozenset[str]:
        """The configured key digests, from the variable and the file together."""
        lines = self.api_key_hashes.split(",")
        if self.api_key_hashes_file is not None:
            try:
                lines += self.api_key_hashes_file.read_text().splitlines()
            except OSError as error:
                raise ConfigError(f"cannot read the API key hashes file: {error}") from error
        digests = frozenset(line.strip().lower() for line in lines if line.strip())
        bad = [digest for digest in digests if not _is_sha256_hex(digest)]
        if bad:
            raise ConfigError("API key hashes must be SHA-256 hex digests (isobox hash-key KEY)")
        return digests

    @model_validator(mode="after")
    def _defaults_within_maxima(self) -> Self:
        if self.default_timeout_s > self.max_timeout_s:
            raise ValueError("default_timeout_s must not exceed max_timeout_s")
        if self.default_memory_mib > self.max_memory_mib:
            raise ValueError("default_memory_mib must not exceed max_memory_mib")
        if self.compile_timeout_s > self.max_compile_timeout_s:
            raise ValueError("compile_timeout_s must not exceed max_compile_timeout_s")
        if self.max_stored_runs_per_client > self.max_stored_runs:
            raise ValueError("max_stored_runs_per_client must not exceed max_stored_runs")
        return self

    def callback_hosts(self) -> frozenset[str]:
        """The hosts callbacks may go to, lower case, without a trailing dot."""
        names = (
            part.strip().lower().rstrip(".") for part in self.callback_allowed_hosts.split(",")
        )
        return frozenset(name.strip("[]") for name in names if name)

    def callback_denied_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """`callback_deny_cidrs` parsed (a ConfigError names a malformed entry)."""
        networks: list[IPv4Network | IPv6Network] = []
        for entry in filter(None, (part.strip() for part in self.callback_deny_cidrs.split(","))):
            try:
                networks.append(ip_network(entry, strict=False))
            except ValueError as error:
                raise ConfigError(
                    f"ISOBOX_CALLBACK_DENY_CIDRS entry {entry!r} is no CIDR"
                ) from error
        return tuple(networks)

    @model_validator(mode="after")
    def _callbacks_need_a_secret(self) -> Self:
        if self.callback_hosts() and not self.callback_secret.get_secret_value():
            raise ValueError(
                "callback_secret (ISOBOX_CALLBACK_SECRET) is required when "
                "callback_allowed_hosts turns callbacks on"
            )
        return self


def _is_sha256_hex(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
