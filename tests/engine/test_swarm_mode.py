"""Turning swarm mode on and off leaves the engine as it was, and no cleaner: the gateway bridge
goes only when turning swarm mode on made it."""

from __future__ import annotations

from jupyter_mlcontainer.engine.swarm import GATEWAY_BRIDGE


def _has_bridge(engine) -> bool:
    return any(
        n.name == GATEWAY_BRIDGE for n in engine.client.networks.list(names=[GATEWAY_BRIDGE])
    )


def test_a_gateway_bridge_that_was_there_before_stays_and_one_swarm_made_goes(
    swarm_as_found, base_image, test_labels
):
    swarm = swarm_as_found
    if swarm.swarm_state() != "inactive":
        return  # an engine already in swarm mode is not ours to turn off (tests/conftest.py)
    engine = swarm.client
    existed = _has_bridge(swarm)
    if not existed:  # as an administrator makes it to choose its subnet (Docker's swarm docs)
        engine.networks.create(
            GATEWAY_BRIDGE,
            driver="bridge",
            options={
                "com.docker.network.bridge.name": GATEWAY_BRIDGE,
                "com.docker.network.bridge.enable_icc": "false",
                "com.docker.network.bridge.enable_ip_masquerade": "true",
            },
        )
    try:
        swarm.init_swarm()
        swarm.leave_swarm()
        assert swarm.swarm_state() == "inactive" and _has_bridge(swarm)
    finally:
        if not existed:
            engine.networks.get(GATEWAY_BRIDGE).remove()
    if existed:
        return  # the second half needs an engine without one
    swarm.init_swarm()
    network = "mlcontainer-test-gwbridge"
    swarm.create_network(network, test_labels)  # the bridge comes with the first container on it
    engine.containers.run(base_image, ["true"], network=network, labels=test_labels, remove=True)
    assert _has_bridge(swarm)
    swarm.remove_network(network)
    swarm.leave_swarm()
    assert swarm.swarm_state() == "inactive" and not _has_bridge(swarm)
