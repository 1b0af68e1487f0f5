"""The environment tests run in: none of the developer's isobox settings.

Every `ISOBOX_*` variable (and `LOG_LEVEL`, `PORT`) could change what Settings() reads, so
tests start without them and set what they need. The harness knobs below are kept: they tell
the tests where the test tools are, and no Settings field reads them (a unit test checks).
"""

from __future__ import annotations

import os

SETTINGS_PREFIX = "ISOBOX_"
PLAIN_SETTINGS = ("LOG_LEVEL", "PORT")
HARNESS_VARIABLES = frozenset(
    {
        "ISOBOX_CACHE",  # Makefile: the image cache of make images
        "ISOBOX_HELM",  # tests/chart, tests/cluster: the helm binary
        "ISOBOX_HOST_ADDR",  # tests/cluster: the host address pods reach
        "ISOBOX_INGRESS_URL",  # tests/cluster, tests/e2e: the Ingress entry point
        "ISOBOX_TEST_IMAGE",  # tests/cluster: the busybox test image
        "ISOBOX_K8S_CACHE",  # hack/cluster: the test cluster's binaries
        "ISOBOX_K8S_STATE",  # hack/cluster: the test cluster's state
        "ISOBOX_KEEP_CLUSTER",  # hack/test.sh: keep the test cluster
    }
)


def is_setting(name: str) -> bool:
    """Whether the variable `name` is an isobox setting a test must not inherit."""
    if name in PLAIN_SETTINGS:
        return True
    return name.startswith(SETTINGS_PREFIX) and name not in HARNESS_VARIABLES


def inherited_settings() -> list[str]:
    return sorted(name for name in os.environ if is_setting(name))


def clean_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without isobox settings, plus `overrides` (for subprocesses
    such as a real `isobox serve`)."""
    env = {name: value for name, value in os.environ.items() if not is_setting(name)}
    return {**env, **overrides}
