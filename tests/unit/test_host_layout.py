"""host.HostLayout: who runs the scheduler in a multi-host job, and how hosts find each other."""

from __future__ import annotations

import json

import pytest

from ensemble_byoc.errors import PlatformError
from ensemble_byoc.training.multihost.layout import SCHEDULER_PORT, WORKER_PORT, HostLayout


def test_a_single_host_job_has_no_layout_so_it_starts_no_cluster() -> None:
    assert HostLayout.from_resource_config({"current_host": "algo-1", "hosts": ["algo-1"]}, {}) is None
    assert HostLayout.from_resource_config({}, {}) is None


def test_the_first_host_in_sorted_order_leads_whatever_order_resourceconfig_lists() -> None:
    layout = HostLayout.from_resource_config({"current_host": "algo-2", "hosts": ["algo-2", "algo-1"],
                                              "network_interface_name": "eth1"}, {})
    assert layout is not None
    assert layout.leader == "algo-1" and not layout.is_leader
    assert (layout.scheduler_port, layout.worker_port) == (SCHEDULER_PORT, WORKER_PORT)
    assert layout.network_interface_name == "eth1"


def test_ports_and_test_addresses_come_from_the_environment() -> None:
    environ = {"ENSEMBLE_BYOC_SCHEDULER_PORT": "9000", "ENSEMBLE_BYOC_WORKER_PORT": "9001",
               "ENSEMBLE_BYOC_TEST_HOST_ADDRESSES": json.dumps({"algo-1": "127.0.0.2"})}
    layout = HostLayout.from_resource_config({"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]},
                                             environ)
    assert layout is not None and layout.is_leader
    assert (layout.scheduler_port, layout.worker_port) == (9000, 9001)
    assert layout.address_of("algo-1") == "127.0.0.2"
    assert layout.address_of("localhost", attempts=1) == "127.0.0.1"


@pytest.mark.parametrize(("config", "environ", "message"), [
    ({"current_host": "algo-9", "hosts": ["algo-1", "algo-2"]}, {},
     "current_host 'algo-9' is not one of its hosts"),
    ({"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]}, {"ENSEMBLE_BYOC_WORKER_PORT": "x"},
     "ENSEMBLE_BYOC_WORKER_PORT == 'x' is not a whole number"),
    ({"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]}, {"ENSEMBLE_BYOC_TEST_HOST_ADDRESSES": "[1]"},
     "ENSEMBLE_BYOC_TEST_HOST_ADDRESSES is not a JSON object"),
])
def test_a_broken_layout_is_a_platform_error_that_says_what_is_wrong(
    config: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(PlatformError, match=message.replace("(", r"\(")):
        HostLayout.from_resource_config(config, environ)
