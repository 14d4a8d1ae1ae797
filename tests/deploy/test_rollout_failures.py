"""How a rollout tells a failed new replica from the failures swarm still lists from before, and
what it does then; swarm is scripted here (the real swarm is in test_replicas.py)."""

from __future__ import annotations

import pytest

from jupyter_mlcontainer.deploy import replicas
from jupyter_mlcontainer.engine.base import DEPLOYMENT_LABEL, ServiceState, TaskFailure
from jupyter_mlcontainer.shared.errors import DeployFailed, InstanceNotFound

NAME = "iris"
OLD, NEW = "sha256:old", "sha256:new"
EXIT_3 = "task: non-zero exit (3)"


def state(image: str, update: str, *failures: TaskFailure) -> ServiceState:
    return ServiceState(
        name=NAME,
        image=image,
        replicas=2,
        running=2,
        labels={DEPLOYMENT_LABEL: NAME},
        update_state=update,
        failures=failures,
    )


class ScriptedSwarm:
    """Answers `service` from a script, one state per call (the last one repeats), and
    records what the rollout asked of it."""

    def __init__(self, *states: ServiceState):
        self.states = list(states)
        self.asked: list[str] = []

    def swarm_state(self):
        return "active"

    def node_count(self):
        return 1  # one node: a rollout needs no registry

    def service(self, name):
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def update_service(self, name, *, image=None, replicas=None):
        self.asked.append(f"update {image}")

    def rollback_service(self, name):
        self.asked.append("rollback")

    def task_logs(self, name, image=None, tail=60):
        return f"the log of a failed replica of {image}"

    def front(self, name):
        return None


class OneImageEngine:
    def __init__(self, swarm: ScriptedSwarm):
        self.swarm = swarm

    def orchestrator(self):
        return self.swarm

    def find_instance(self, name):
        raise InstanceNotFound(name)

    def image_exists(self, name):
        return name == "mlcontainer/iris:v2"

    def image_id(self, name):
        return NEW

    def image_refs(self, image):
        return ["mlcontainer/iris:v2"] if image == NEW else ["mlcontainer/iris:v1"]


def test_a_failed_new_replica_is_rolled_back_at_once_while_swarm_still_updates():
    stale = TaskFailure("t-old", NEW, "task: an earlier rollout's replica")
    swarm = ScriptedSwarm(
        state(OLD, "rollback_completed", stale),  # what rollout reads first
        state(NEW, "updating", stale),
        state(NEW, "updating", TaskFailure("t-new", NEW, EXIT_3), stale),
        state(OLD, "rollback_started"),
        state(OLD, "rollback_completed"),
    )
    with pytest.raises(DeployFailed, match=r"was rolled back \(task: non-zero exit \(3\)\)") as e:
        replicas.rollout(OneImageEngine(swarm), NAME, "mlcontainer/iris:v2")
    assert swarm.asked == [f"update {NEW}", "rollback"]
    assert e.value.output == f"the log of a failed replica of {NEW}"
    assert "an earlier rollout" not in e.value.message


def test_failures_from_before_the_rollout_or_of_the_old_image_do_not_stop_it():
    earlier = TaskFailure("t-old", NEW, "task: an earlier rollout's replica")
    old_one = TaskFailure("t-drained", OLD, "task: non-zero exit (137)")
    swarm = ScriptedSwarm(
        state(OLD, "rollback_completed", earlier),
        state(NEW, "updating", earlier),
        state(NEW, "updating", old_one, earlier),  # an old replica stopped badly: not ours
        state(NEW, "completed", old_one, earlier),
    )
    rolled = replicas.rollout(OneImageEngine(swarm), NAME, "mlcontainer/iris:v2")
    assert (rolled.image, rolled.update) == ("mlcontainer/iris:v2", "completed")
    assert swarm.asked == [f"update {NEW}"]


def test_a_rollback_that_pauses_is_said_as_such():
    swarm = ScriptedSwarm(
        state(OLD, "completed"),
        state(NEW, "updating", TaskFailure("t-new", NEW, EXIT_3)),
        state(NEW, "rollback_paused"),
    )
    with pytest.raises(
        DeployFailed, match=r"left it rollback_paused \(task: non-zero exit \(3\)\); some"
    ) as e:
        replicas.rollout(OneImageEngine(swarm), NAME, "mlcontainer/iris:v2")
    assert "was rolled back" not in e.value.message


def test_a_rollback_asked_after_swarm_completed_the_update_is_waited_for():
    """Swarm may finish the update (its failure action is `continue`) before the failed replica
    is seen; right after the rollback is asked it still shows "completed", which is not the end
    of the rollback."""
    swarm = ScriptedSwarm(
        state(OLD, "completed"),
        state(NEW, "completed", TaskFailure("t-new", NEW, EXIT_3)),
        state(NEW, "completed"),  # the rollback not started yet
        state(OLD, "rollback_started"),
        state(OLD, "rollback_completed"),
    )
    with pytest.raises(DeployFailed, match=r"was rolled back \(task: non-zero exit \(3\)\)"):
        replicas.rollout(OneImageEngine(swarm), NAME, "mlcontainer/iris:v2")
    assert swarm.asked == [f"update {NEW}", "rollback"]
