"""cluster.LeaderCluster's view of which hosts are in the cluster, on a one-host cluster in this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

pytest.importorskip("distributed")

import dask  # noqa: E402 - after the skip

from ensemble_byoc.contract.paths import SageMakerPaths  # noqa: E402
from ensemble_byoc.training.multihost import cluster as cluster_module  # noqa: E402
from ensemble_byoc.training.multihost.cluster import LeaderCluster  # noqa: E402
from ensemble_byoc.training.multihost.layout import HostLayout  # noqa: E402
from ensemble_byoc.training.stopping import StopRequest  # noqa: E402


def one_host_layout(**changes: object) -> HostLayout:
    settings: dict[str, object] = dict(
        hosts=("algo-1",), current_host="algo-1", network_interface_name=None, scheduler_port=free_port(),
        worker_port=free_port(), join_timeout=30.0, worker_ttl=60, test_addresses={"algo-1": "127.0.0.1"})
    settings.update(changes)
    return HostLayout(**settings)  # type: ignore[arg-type]


@pytest.fixture
def busy_client_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LeaderCluster]:
    """A cluster whose client refreshes its cached scheduler summary (which lists no worker) every
    millisecond, as Dask's client does every 2 s in the background. Closing a cluster asks the host to
    stop (the end of its job): that request goes to a stop of this test's own, not this process's."""
    monkeypatch.setattr(cluster_module, "HOST_STOP", StopRequest())
    with dask.config.set({"distributed.client.scheduler-info-interval": "1ms"}), \
            LeaderCluster(one_host_layout(), SageMakerPaths(tmp_path)) as cluster:
        yield cluster


def test_every_host_stays_present_while_the_client_refreshes_its_scheduler_summary_in_the_background(
    busy_client_cluster: LeaderCluster,
) -> None:
    for _ in range(300):
        busy_client_cluster.check_hosts()  # raised "Host algo-1 left the Dask cluster" when it raced
