"""A deny-all NetworkPolicy blocks pod->pod and pod->host traffic that works without it.

The host side is a TCP listener opened by this test on an address of this machine that pods
can reach (see conftest.host_address); nothing outside the machine is ever contacted.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client

from .conftest import (
    NamespaceFactory,
    host_address,
    pod_manifest,
    wait_pod_phase,
    wait_pod_ready,
)

pytestmark = pytest.mark.cluster

SERVER_PORT = 8080


class HostListener:
    """Accepts TCP connections on (addr, ephemeral port), answers 'host-pong', counts them."""

    def __init__(self, addr: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.5)
        self.addr, self.port = self.sock.getsockname()[:2]
        self.accepted = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            with conn:
                conn.sendall(b"host-pong\n")

    def close(self) -> None:
        self._stop.set()
        self._t.join(2)
        self.sock.close()


@pytest.fixture
def host_listener(core: client.CoreV1Api) -> Iterator[HostListener]:
    hl = HostListener(host_address(core))
    yield hl
    hl.close()


def probe_script(server_ip: str, host_ip: str, host_port: int) -> str:
    # wait a little so the policy agent has seen this pod, then try both targets (3 s timeouts;
    # busybox nc, not wget: static busybox wget crashes without a resolver)
    return f"""
sleep 3
req='GET / HTTP/1.0\r\n\r\n'
if printf "$req" | nc -w 3 {server_ip} {SERVER_PORT} 2>/dev/null | grep -q pod-pong
then echo pod=open; else echo pod=blocked; fi
if nc -w 3 {host_ip} {host_port} </dev/null 2>/dev/null | grep -q host-pong
then echo host=open; else echo host=blocked; fi
"""


def run_probe(core: client.CoreV1Api, ns: str, name: str, script: str) -> dict[str, str]:
    core.create_namespaced_pod(
        ns, pod_manifest(name, ["sh", "-c", script], labels={"role": "client"})
    )
    wait_pod_phase(core, ns, name, {"Succeeded"}, timeout=90)
    log = core.read_namespaced_pod_log(name, ns)
    return dict(line.split("=", 1) for line in log.split() if "=" in line)


def test_deny_all_blocks_pod_to_pod_and_pod_to_host(
    core: client.CoreV1Api,
    netv1: client.NetworkingV1Api,
    make_namespace: NamespaceFactory,
    host_listener: HostListener,
) -> None:
    ns = make_namespace()
    server_cmd = [
        "sh",
        "-c",
        "mkdir -p /tmp/www && echo pod-pong > /tmp/www/index.html"
        f" && exec httpd -f -p {SERVER_PORT} -h /tmp/www",
    ]
    core.create_namespaced_pod(
        ns, pod_manifest("server", server_cmd, labels={"role": "server"}, port=SERVER_PORT)
    )
    server_ip = wait_pod_ready(core, ns, "server").status.pod_ip
    script = probe_script(server_ip, host_listener.addr, host_listener.port)

    # 1. without a policy both paths are open
    before = run_probe(core, ns, "probe-open", script)
    assert before == {"pod": "open", "host": "open"}, before
    assert host_listener.accepted >= 1

    # 2. deny all ingress and egress for every pod of the namespace
    netv1.create_namespaced_network_policy(
        ns,
        client.V1NetworkPolicy(
            metadata=client.V1ObjectMeta(name="deny-all"),
            spec=client.V1NetworkPolicySpec(
                pod_selector=client.V1LabelSelector(), policy_types=["Ingress", "Egress"]
            ),
        ),
    )
    accepted_before = host_listener.accepted
    deadline = time.monotonic() + 60
    attempt = 0
    while True:
        attempt += 1
        after = run_probe(core, ns, f"probe-denied-{attempt}", script)
        if after == {"pod": "blocked", "host": "blocked"} or time.monotonic() > deadline:
            break
    assert after == {"pod": "blocked", "host": "blocked"}, f"after {attempt} attempts: {after}"
    # the server itself is still up, i.e. the block is the policy, not a dead server
    assert core.read_namespaced_pod("server", ns).status.phase == "Running"
    if attempt == 1:
        assert host_listener.accepted == accepted_before, (
            "host listener saw a connection under deny-all"
        )
