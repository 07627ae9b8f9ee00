from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import servers


@pytest.fixture(scope="session")
def embedded_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Deployment]:
    deployment = servers.deployment("embedded", tmp_path_factory.mktemp("embedded"))
    yield deployment
    deployment.stop()


@pytest.fixture(scope="session")
def scaled_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Deployment]:
    deployment = servers.deployment("scaled", tmp_path_factory.mktemp("scaled"))
    yield deployment
    deployment.stop()


@pytest.fixture(scope="session")
def embedded_server(embedded_deployment: servers.Deployment) -> servers.Server:
    """One server process of the embedded configuration (SQLite + in-memory layer)."""
    return embedded_deployment.start()


@pytest.fixture(scope="session")
def scaled_server(scaled_deployment: servers.Deployment) -> servers.Server:
    """One worker of the scaled configuration (PostgreSQL + Redis)."""
    return scaled_deployment.start()


@pytest.fixture(params=["embedded", "scaled"])
def hub_server(request: pytest.FixtureRequest) -> servers.Server:
    """A running server, once per configuration."""
    if request.param == "scaled":
        request.applymarker(pytest.mark.postgres)
        request.applymarker(pytest.mark.redis)
    return request.getfixturevalue(f"{request.param}_server")
