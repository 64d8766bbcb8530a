"""Fidelity: openstacksdk (a client nobody here wrote) works against the sandbox unchanged,
through the clouds.yaml the sandbox writes — over HTTPS with the generated CA, and plain HTTP."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from typing import Any

import openstack
import openstack.config
import openstack.exceptions
import pytest

from probes.sandbox import Sandbox

pytestmark = pytest.mark.slow


def connect(sb: Sandbox, cloud: str = "sandbox") -> Any:
    config = openstack.config.OpenStackConfig(config_files=[str(sb.clouds_yaml)])
    return openstack.connection.Connection(config=config.get_one(cloud))


@pytest.fixture(params=[True, False], ids=["https", "http"])
def sb(request: pytest.FixtureRequest, sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(tls=request.param)


def test_full_server_lifecycle_with_user_data(sb: Sandbox) -> None:
    conn = connect(sb)
    images = list(conn.image.images())
    assert {"cirros-0.6.2-x86_64", "ubuntu-22.04"} <= {i.name for i in images}
    image = next(i for i in images if i.name.startswith("cirros"))
    flavor = conn.compute.find_flavor("c1.nano")
    network = conn.network.find_network("demo-net")
    assert flavor is not None and network is not None
    assert {s.ip_version for s in conn.network.subnets(network_id=network.id)} == {4, 6}
    nonce = secrets.token_hex(8)
    script = f"#!/bin/sh\necho nonce={nonce}\ncat \"$JOBFEATURES/job_id\"\n"
    server = conn.compute.create_server(
        name="sdk-test", image_id=image.id, flavor_id=flavor.id,
        networks=[{"uuid": network.id}], metadata={"fedprobe.host": "sdk"},
        user_data=base64.b64encode(script.encode()).decode())
    server = conn.compute.wait_for_server(server, status="ACTIVE", interval=0.1, wait=30)
    versions = {a["version"] for net in server.addresses.values() for a in net}
    assert versions == {4, 6}
    deadline = time.monotonic() + 20
    output = ""
    while f"nonce={nonce}" not in output and time.monotonic() < deadline:
        output = conn.compute.get_server_console_output(server)["output"]
        time.sleep(0.1)
    assert f"nonce={nonce}" in output
    assert server.id in output  # the guest read its own job_id from $JOBFEATURES
    listed = [s.id for s in conn.compute.servers(details=True)]
    assert server.id in listed
    assert conn.compute.fetch_server_metadata(server).metadata["fedprobe.host"] == "sdk"
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.1, wait=30)
    with pytest.raises(openstack.exceptions.ResourceNotFound):
        conn.compute.get_server(server.id)
    assert sb.live_servers() == []


@pytest.mark.parametrize("cloud", ["sandbox-appcred-demo", "sandbox-oidc-egi.eu",
                                   "sandbox-probe"])
def test_other_auth_methods_from_clouds_yaml(sandbox: Sandbox, cloud: str) -> None:
    conn = connect(sandbox, cloud)
    assert conn.authorize()
    assert [f.name for f in conn.compute.flavors()]
    assert any(n.name == "shared-net" for n in conn.network.networks())


def test_sdk_sees_nova_errors(sandbox: Sandbox) -> None:
    conn = connect(sandbox)
    network = conn.network.find_network("demo-net")
    with pytest.raises(openstack.exceptions.BadRequestException, match="could not be found"):
        conn.compute.create_server(name="bad", image_id="00000000-0000-0000-0000-000000000000",
                                   flavor_id="42", networks=[{"uuid": network.id}])
    sandbox.set_faults(quota_exceeded=403)
    image = next(conn.image.images(name="cirros-0.6.2-x86_64"))
    with pytest.raises(openstack.exceptions.ForbiddenException, match="Quota exceeded"):
        conn.compute.create_server(name="over", image_id=image.id, flavor_id="42",
                                   networks=[{"uuid": network.id}])


def test_quotas_and_projects_as_a_user_sees_them(sandbox_factory: Callable[..., Sandbox]) -> None:
    """Neutron's quota calls `openstack quota show` makes, and Keystone refusing the project
    list to a non-admin (403), as real clouds do (issue 18); before: 404 for both."""
    sb = sandbox_factory()
    conn = connect(sb)
    project = conn.current_project_id
    quota = conn.network.get_quota(project)
    assert (quota.networks, quota.ports, quota.routers) == (100, 500, 10)
    details = conn.network.get_quota(project, details=True)
    assert details.networks == {"limit": 100, "used": 1, "reserved": 0}  # demo-net
    assert details.subnets["used"] == 2 and details.ports["used"] == 0
    assert conn.network.get_quota_default(project).floating_ips == 50
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.network.get_quota("some-other-project")
    with pytest.raises(openstack.exceptions.ForbiddenException,
                       match="identity:list_projects"):
        list(conn.identity.projects())
    assert project in {p.id for p in conn.identity.user_projects(conn.current_user_id)}
