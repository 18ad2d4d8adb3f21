"""Shared fixtures: one local Ray per test session, started only if a test asks for it."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """A local single-node Ray for the whole session (2 CPUs, no dashboard), shut down after."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield ray
    finally:
        ray.shutdown()
