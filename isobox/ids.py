"""Run ids: what they look like, how a new one is made, how an idempotency key maps to one.

A run id names the run's sandbox (container, Pod) and CodeRun (`run-<id>`), so it is a DNS
label fragment everywhere; this is the one place that says so.
"""

from __future__ import annotations

import hashlib
import re
import uuid

RUN_ID_LENGTH = 20
# A DNS label of at most 40 characters, so that "run-<id>" and "isobox-run-<id>" stay labels.
RUN_ID_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")


def new_run_id() -> str:
    """A random run id: RUN_ID_LENGTH lowercase hex digits."""
    return uuid.uuid4().hex[:RUN_ID_LENGTH]


def is_run_id(value: str) -> bool:
    """Whether `value` can be a run id; anything else names no run (and is never looked up)."""
    return RUN_ID_PATTERN.fullmatch(value) is not None


def run_id_for_key(scoped_key: str) -> str:
    """The run id an idempotency key stands for, derived rather than stored.

    Every API replica maps a key to the same id, so the API server's uniqueness of names
    makes a duplicate submission fail with 409 instead of running twice. The key is already
    scoped to its client, so two clients' equal keys name different runs.
    """
    digest = hashlib.sha256(f"isobox-idempotency-key\0{scoped_key}".encode())
    return digest.hexdigest()[:RUN_ID_LENGTH]
