"""Arm driver over real DDS: the driver runs as its own process in /actor_0; the test plays the
vendor's ros2_control side (/robot_description, a joint_state_broadcaster at 100 Hz, the velocity
and trajectory controllers' topics, a kinematic arm behind them) and the graph side."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from skill_embedding_ros.paths import data_dir
from skill_embedding_ros.robots.ros2_control import (
    JOINT_STATES,
    ROBOT_DIR,
    commands_topic,
    load_robot,
    trajectory_topic,
)
from skill_embedding_ros.ros import topics
from skill_embedding_ros.ros.conversions import reset_reply_stamp, stamp_ns
from skill_embedding_ros.ros.processes import Probe, fresh_domain, log_text, start_node, stop
from skill_embedding_ros.settings.arm_driver import ArmDriverConfig

WAIT = 20.0  # s; generous, the machine is shared
NS = "actor_0"
RATE = 100.0  # Hz, the broadcaster's
CONTROL_PERIOD = 0.05  # s, the Jaco suite's


def _config(tmp_path, edit=None) -> str:
    """A copy of the Jaco robot config, edited as raw YAML; its path."""
    raw = yaml.safe_load((ROBOT_DIR / "jaco.yaml").read_text())
    if edit:
        edit(raw)
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


class Vendor:
    """The vendor stack, played by the probe: a kinematic arm that integrates the latest
    velocity command, or follows a trajectory (linearly between points) while one runs."""

    def __init__(self, probe: Probe, robot, omit: tuple[str, ...] = (), offset=None):
        self.node, self.robot = probe.node, robot
        self.names = [v for v in robot.broadcast_order if v not in omit]
        model = robot.model()
        self.q = {v: robot.home[model[v]] + (offset or {}).get(model[v], 0.0) for v in self.names}
        self.dq = dict.fromkeys(self.names, 0.0)
        self.publishing = True
        self.velocity: list[tuple[float, list[float]]] = []  # (arrival, values)
        self.trajectories: list[JointTrajectory] = []
        self.traj: tuple[float, JointTrajectory, dict] | None = None
        self.published_at = 0.0
        n = self.node
        urdf = ET.fromstring((data_dir("urdf") / "jaco.urdf").read_text())
        for joint in urdf.iter("joint"):
            joint.set("name", robot.joints.get(joint.get("name"), joint.get("name")))
        self.desc = n.create_publisher(String, "/robot_description", topics.LATCHED)
        self.desc.publish(String(data=ET.tostring(urdf, encoding="unicode")))
        self.states = n.create_publisher(JointState, JOINT_STATES, topics.RELIABLE)
        n.create_subscription(
            Float64MultiArray,
            commands_topic(robot.velocity.name),
            self.on_velocity,
            topics.RELIABLE,
        )
        n.create_subscription(
            JointTrajectory,
            trajectory_topic(robot.trajectory.name),
            self.on_trajectory,
            topics.RELIABLE,
        )
        self.tick = n.create_timer(1.0 / RATE, self.on_tick)

    def on_velocity(self, msg):
        self.velocity.append((time.monotonic(), list(msg.data)))
        if self.traj is None:
            self.dq = dict(zip(self.robot.velocity.joints, msg.data, strict=True))

    def on_trajectory(self, msg):
        self.trajectories.append(msg)
        if msg.points:
            self.traj = (time.monotonic(), msg, dict(self.q))

    def on_tick(self):
        dt = 1.0 / RATE
        if self.traj is not None:
            begin, msg, q0 = self.traj
            times = [0.0] + [
                p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points
            ]
            t = time.monotonic() - begin
            for i, v in enumerate(msg.joint_names):
                path = [q0[v]] + [p.positions[i] for p in msg.points]
                new = float(np.interp(t, times, path))
                self.dq[v] = (new - self.q[v]) / dt
                self.q[v] = new
            if t > times[-1]:
                self.traj, self.dq = None, dict.fromkeys(self.names, 0.0)
        else:
            for v in self.names:
                self.q[v] += self.dq.get(v, 0.0) * dt
        if self.publishing:
            msg = JointState(name=self.names)
            msg.header.stamp = self.node.get_clock().now().to_msg()
            msg.position = [self.q[v] for v in self.names]
            msg.velocity = [self.dq.get(v, 0.0) for v in self.names]
            self.states.publish(msg)
            self.published_at = time.monotonic()


class Graph:
    def __init__(self, tmp_path):
        self.domain, self.tmp = fresh_domain(), tmp_path
        self.probe = Probe(self.domain)
        self.procs = []
        n = self.probe.node
        self.states: list[JointState] = []
        self.descriptions: list[str] = []
        n.create_subscription(
            JointState, f"/{NS}/{topics.JOINT_STATES}", self.states.append, topics.RELIABLE
        )
        n.create_subscription(
            String,
            f"/{NS}/{topics.ROBOT_DESCRIPTION}",
            lambda m: self.descriptions.append(m.data),
            topics.LATCHED,
        )
        self.commands = n.create_publisher(
            Float64MultiArray, f"/{NS}/{topics.COMMANDS}", topics.RELIABLE
        )

    def driver(self, **params):
        proc = start_node("arm_driver", self.domain, self.tmp, NS, params)
        self.procs.append(proc)
        return proc

    def call(self, srv_type, name: str, request):
        client = self.probe.node.create_client(srv_type, f"/{NS}/{name}")
        assert client.wait_for_service(timeout_sec=WAIT), f"no service {name}"
        future = client.call_async(request)
        self.probe.spin_until(future.done, WAIT, f"the reply of {name}")
        return future.result()

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.call(ChangeState, "arm_driver/change_state", request).success

    def state(self) -> str:
        return self.call(GetState, "arm_driver/get_state", GetState.Request()).current_state.label

    def until_active(self, vendor: Vendor):
        self.probe.spin_until(lambda: self.states, WAIT, "the graph's joint_states")
        self.probe.spin_until(lambda: self.state() == "active", WAIT, "an active driver")


@pytest.fixture
def graph(tmp_path):
    g = Graph(tmp_path)
    yield g
    codes = [stop(p) for p in g.procs]
    g.probe.close()
    logs = "\n".join(log_text(p) for p in g.procs)
    assert all(c == 0 for c in codes), f"driver exit codes {codes}\n{logs}"


def test_configure_refuses_a_wrong_joint_name_and_names_it(graph, tmp_path):
    robot = load_robot("jaco")
    Vendor(graph.probe, robot)

    def typo(raw):
        raw["joints"]["joint_2"] = "j2n6s300_joint_02"
        for names in (raw["broadcast_order"], *(c["joints"] for c in raw["controllers"].values())):
            names[names.index("j2n6s300_joint_2")] = "j2n6s300_joint_02"

    proc = graph.driver(robot=_config(tmp_path, typo), configure_timeout=WAIT)
    graph.probe.spin_until(lambda: proc.poll() is not None, WAIT, "the driver to give up")
    log = log_text(proc)
    assert proc.returncode == 2, log
    assert "error: configure failed:" in log
    assert "joint_2 -> 'j2n6s300_joint_02' (did you mean 'j2n6s300_joint_2'?)" in log
    graph.procs.remove(proc)  # its exit code 2 is the point


def test_lifecycle_through_change_state(graph, tmp_path):
    """Configure refuses a vendor whose joint_states lack a joint (naming it), then passes once it
    reports every joint; activate forwards, deactivate holds, cleanup and shutdown end it."""
    robot = load_robot("jaco")
    vendor = Vendor(graph.probe, robot, omit=("j2n6s300_joint_3",))
    graph.driver(autostart=False, configure_timeout=3.0)
    assert graph.state() == "unconfigured"
    assert not graph.transition(Transition.TRANSITION_CONFIGURE)
    assert "lacks vendor joint(s) 'j2n6s300_joint_3' (model 'joint_3')" in log_text(graph.procs[0])
    assert graph.state() == "unconfigured"
    vendor.tick.cancel()
    Vendor(graph.probe, robot)  # now the full arm
    assert graph.transition(Transition.TRANSITION_CONFIGURE)
    assert graph.state() == "inactive"
    assert graph.transition(Transition.TRANSITION_ACTIVATE)
    assert graph.state() == "active"
    assert graph.transition(Transition.TRANSITION_DEACTIVATE)
    assert graph.state() == "inactive"
    assert graph.transition(Transition.TRANSITION_CLEANUP)
    assert graph.state() == "unconfigured"
    assert graph.transition(Transition.TRANSITION_UNCONFIGURED_SHUTDOWN)
    assert graph.state() == "finalized"


def _shuffled(raw):
    raw["controllers"]["velocity"]["joints"] = list(reversed(raw["broadcast_order"]))


def test_commands_reach_the_velocity_controller_by_name(graph, tmp_path):
    path = _config(tmp_path, _shuffled)
    robot = load_robot(path)
    vendor = Vendor(graph.probe, robot)
    graph.driver(robot=path)
    graph.until_active(vendor)
    # the graph sees model names, the vendor's stamps, and the hardware's limits by model name
    state = graph.states[-1]
    assert state.name == list(robot.joints)
    graph.probe.spin_until(lambda: graph.descriptions, WAIT, "the graph's robot_description")
    assert 'name="joint_2"' in graph.descriptions[-1] and "j2n6s300" not in graph.descriptions[-1]
    assert stamp_ns(state.header.stamp) > 0
    command = [0.01 * (i + 1) for i in range(9)]  # joint_1 -> 0.01, ..., finger_3 -> 0.09
    # reversed broadcast order: joint_6 .. joint_1, then finger_3 .. finger_1
    expected = [0.06, 0.05, 0.04, 0.03, 0.02, 0.01, 0.09, 0.08, 0.07]
    before = len(vendor.velocity)

    def arrived() -> bool:
        graph.commands.publish(Float64MultiArray(data=command))
        return any(v == pytest.approx(expected) for _, v in vendor.velocity[before:])

    graph.probe.spin_until(arrived, WAIT, "the command at the velocity controller, its order")
    # a command of the wrong length is refused: zeros go out instead, and the log says why
    graph.commands.publish(Float64MultiArray(data=[0.1] * 8))
    mark = time.monotonic()
    graph.probe.spin_until(
        lambda: any(t > mark and v == [0.0] * 9 for t, v in vendor.velocity), WAIT, "zeros"
    )
    assert "refused command: 8 values for the 9 joints" in log_text(graph.procs[0])


def test_stale_joint_states_send_zeros_within_two_control_periods(graph):
    robot = load_robot("jaco")
    vendor = Vendor(graph.probe, robot)
    graph.driver()
    graph.until_active(vendor)
    moving = [0.01] * 9
    pub = graph.probe.node.create_timer(
        CONTROL_PERIOD, lambda: graph.commands.publish(Float64MultiArray(data=moving))
    )
    graph.probe.spin_until(
        lambda: vendor.velocity and vendor.velocity[-1][1] == moving, WAIT, "forwarding"
    )
    graph.probe.spin_for(0.3)
    vendor.publishing = False
    last = vendor.published_at
    graph.probe.spin_until(
        lambda: any(t > last and v == [0.0] * 9 for t, v in vendor.velocity), WAIT, "zeros"
    )
    first_zero = next(t for t, v in vendor.velocity if t > last and v == [0.0] * 9)
    graph.probe.spin_for(0.3)  # the policy goes on commanding: nothing but zeros now
    pub.cancel()
    after = [v for t, v in vendor.velocity if t > first_zero]
    assert after and all(v == [0.0] * 9 for v in after)
    # Not before state_timeout (a stop on a jittery stream would be a false alarm); after it,
    # one check period plus a margin for a shared machine's scheduling.
    timeout = ArmDriverConfig().state_timeout
    delay = first_zero - last
    assert 0.9 * timeout < delay < timeout + 0.15, delay
    assert f"no /joint_states of every joint for over {timeout} s" in log_text(graph.procs[0])


def test_reset_homes_the_arm_and_replies_with_a_stamp(graph):
    robot = load_robot("jaco")
    vendor = Vendor(graph.probe, robot, offset={"joint_2": -0.3, "finger_1": 0.2})
    graph.driver()
    graph.until_active(vendor)
    reply = graph.call(Trigger, topics.ROBOT_RESET, Trigger.Request())
    assert reply.success, reply.message
    stamp = reset_reply_stamp(reply.message)
    assert stamp is not None and stamp in [stamp_ns(s.header.stamp) for s in graph.states]
    model = robot.model()
    for v, q in vendor.q.items():
        assert abs(q - robot.home[model[v]]) <= robot.home_tolerance, v
    (traj,) = vendor.trajectories
    assert traj.joint_names == list(robot.trajectory.joints)
    times = [0.0] + [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in traj.points]
    j2 = traj.joint_names.index("j2n6s300_joint_2")
    path = [robot.home["joint_2"] - 0.3] + [p.positions[j2] for p in traj.points]
    speeds = np.abs(np.diff(path)) / np.diff(times)
    assert speeds.max() <= robot.homing_speed + 1e-9 and times[-1] >= 0.3 / robot.homing_speed


def test_against_the_emulator_reset_homes_and_a_command_moves_the_named_joint(graph, tmp_path):
    """The emulated Jaco (MuJoCo behind ros2_control's topics) starts near home, not at it."""
    robot = load_robot("jaco")
    emulator = start_node("arm_emulator", graph.domain, tmp_path, "", {"rate": 100.0})
    graph.procs.append(emulator)
    graph.driver(configure_timeout=WAIT)
    probe = graph.probe
    probe.spin_until(lambda: graph.states, WAIT, "the graph's joint_states")
    reply = graph.call(Trigger, topics.ROBOT_RESET, Trigger.Request())
    assert reply.success, reply.message + log_text(graph.procs[-1])
    stamp = reset_reply_stamp(reply.message)
    homed = next(s for s in graph.states if stamp_ns(s.header.stamp) == stamp)
    for name, q in zip(homed.name, homed.position, strict=True):
        assert abs(q - robot.home[name]) <= robot.home_tolerance, (name, q)
    # joint_5 alone, by its model name: only it moves
    command = [0.0] * 9
    command[4] = 0.2
    start = len(graph.states)
    timer = probe.node.create_timer(
        CONTROL_PERIOD, lambda: graph.commands.publish(Float64MultiArray(data=command))
    )
    probe.spin_for(1.0)
    timer.cancel()
    first, last = graph.states[start], graph.states[-1]
    moved = {n: b - a for n, a, b in zip(first.name, first.position, last.position, strict=True)}
    assert moved["joint_5"] > 0.1, moved
    assert all(abs(d) < 0.02 for n, d in moved.items() if n != "joint_5"), moved


def test_the_gates_estop_abandons_a_homing_and_refuses_the_next(graph):
    """Homing goes past the gate (the trajectory controller), so the driver stops it itself when
    the gate's e-stop latches: a trajectory that holds where the arm is, a failed reply."""
    robot = load_robot("jaco")
    vendor = Vendor(graph.probe, robot, offset={"joint_2": -0.6})  # a 2 s homing at 0.3 rad/s
    graph.driver()
    graph.until_active(vendor)
    state = graph.probe.node.create_publisher(
        DiagnosticStatus, f"/{NS}/{topics.GATE_STATE}", topics.LATCHED
    )
    client = graph.probe.node.create_client(Trigger, f"/{NS}/{topics.ROBOT_RESET}")
    graph.probe.spin_until(client.service_is_ready, WAIT, "the driver's reset service")
    future = client.call_async(Trigger.Request())
    graph.probe.spin_until(lambda: vendor.trajectories, WAIT, "the homing trajectory")
    graph.probe.spin_for(0.5)
    state.publish(DiagnosticStatus(values=[KeyValue(key="estop", value="true")]))
    graph.probe.spin_until(future.done, WAIT, "the homing's reply")
    reply = future.result()
    assert not reply.success and "e-stop latched" in reply.message, reply.message
    homing, hold = vendor.trajectories
    assert len(hold.points) == 1 and len(homing.points) > 1
    j2 = hold.joint_names.index("j2n6s300_joint_2")
    assert hold.points[0].positions[j2] < robot.home["joint_2"] - 0.1  # where it was: not home
    again = graph.call(Trigger, topics.ROBOT_RESET, Trigger.Request())
    assert not again.success and "e-stop is latched" in again.message
