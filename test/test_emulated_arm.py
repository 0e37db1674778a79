"""The emulated arm (robots/emulated_arm.py, emulated_link.py, vendor_messages.py) and the scene
around it (emulated_scene.py, scene_camera.py's cadence) on the real Jaco scene in MuJoCo, driven
by made-up clock readings: the link's delays, losses and noise, the protective stop, trajectory
tracking, the vendor-name mapping, the objects' poses and the operator's scene reset."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from skill_embedding_ros.control.joint_limits import limits_from_description
from skill_embedding_ros.robots.emulated_arm import MAX_CATCH_UP, EmulatedArm
from skill_embedding_ros.robots.emulated_link import DelayLine, Link
from skill_embedding_ros.robots.emulated_scene import SceneObjects, describe, stride, yaw
from skill_embedding_ros.robots.ros2_control import load_robot, parse_robot, robot_path
from skill_embedding_ros.robots.scene_camera import Cadence
from skill_embedding_ros.robots.vendor_messages import (
    parse_trajectory,
    vendor_command,
    vendor_urdf,
)
from skill_embedding_ros.tasks.jaco.layouts import BLOCK_REGION, GOAL_REGION
from skill_embedding_ros.tasks.registry import get_suite

DT = 0.002  # the Jaco scene's physics step (s)


@pytest.fixture(scope="module")
def robot():
    return load_robot("jaco")


def make_arm(robot, **kwargs) -> EmulatedArm:
    link = Link(**{k: kwargs.pop(k) for k in list(kwargs) if k in Link.__dataclass_fields__})
    return EmulatedArm(robot, get_suite(robot.suite).make_scene(), link, **kwargs)


def run(arm: EmulatedArm, until: float, every: float = DT) -> list[dict[str, float]]:
    """Advance to `until` in `every` s ticks; the true velocities after each tick (and what
    the servos were told, under "target")."""
    seen = []
    for now in np.arange(arm.time + every, until + every / 2, every):
        arm.advance(float(now))
        seen.append({**arm.velocities(), "target": arm.target})
    return seen


def command(robot, **velocities) -> dict[str, float]:
    """A vendor command message's content (controller order) with the named model joints set."""
    model = robot.model()
    return vendor_command(robot, [velocities.get(model[v], 0.0) for v in robot.velocity.joints])


def test_delay_line_holds_each_item_back_exactly_latency_and_keeps_order():
    line = DelayLine(0.1, 0.0, 0.0, np.random.default_rng(0))
    assert line.push("a", 1.0)
    assert line.pop(1.0999) == [] and len(line) == 1
    assert line.pop(1.1) == ["a"]
    jittery = DelayLine(0.05, 0.02, 0.0, np.random.default_rng(1))
    sent = np.arange(0.0, 1.0, 0.001)
    for k, t in enumerate(sent):
        jittery.push(k, t)
    arrivals = {}
    for now in np.arange(0.0, 1.2, 0.0005):
        for k in jittery.pop(now):
            arrivals[k] = now
    assert list(arrivals) == list(range(len(sent)))  # every one, in order
    delay = np.array([arrivals[k] - sent[k] for k in range(len(sent))])
    assert delay.min() >= 0.05 - 1e-9 and delay.max() <= 0.07 + 0.0005 + 1e-9
    assert delay.max() - delay.min() > 0.01  # the jitter is there


def test_a_command_acts_exactly_latency_after_it_was_sent(robot):
    arm = make_arm(robot, latency=0.1, start="home")
    run(arm, 0.5)
    assert arm.command(command(robot, joint_1=0.4), now=0.5)
    arm.advance(0.6)  # the steps starting before 0.6 s: none sees the command
    assert np.all(arm.target == 0.0)
    arm.advance(0.602)  # the step starting at 0.6 s does
    assert arm.target[arm.joints.index("joint_1")] == pytest.approx(0.4)
    run(arm, 1.0)
    assert arm.velocities()["joint_1"] == pytest.approx(0.4, abs=0.01)


def test_states_arrive_latency_after_sampling_carrying_the_sampled_stamp(robot):
    arm = make_arm(robot, latency=0.03, start="home")
    arm.advance(0.2)
    assert arm.sample(0.2, stamp="t0")
    assert arm.states(0.229) == []
    (state,) = arm.states(0.23)
    assert state.stamp == "t0" and state.names == robot.broadcast_order


def test_drop_rate_is_near_its_setting_both_ways(robot):
    line = DelayLine(0.0, 0.0, 0.2, np.random.default_rng(3))
    kept = sum(line.push(k, 0.0) for k in range(20_000))
    assert kept + line.lost == 20_000
    assert line.lost / 20_000 == pytest.approx(0.2, abs=0.015)
    arm = make_arm(robot, drop=0.3, seed=5)
    got = 0
    for k in range(1, 4001):
        now = k * DT
        arm.advance(now)
        arm.sample(now, k)
        got += len(arm.states(now))
    assert 1 - got / 4000 == pytest.approx(0.3, abs=0.03)
    lost_commands = sum(not arm.command(command(robot), 8.0) for _ in range(4000))
    assert lost_commands / 4000 == pytest.approx(0.3, abs=0.03)


def test_noise_has_its_spread_and_a_seed_repeats_a_run(robot):
    def samples(seed: int) -> np.ndarray:
        arm = make_arm(robot, noise_position=0.01, noise_velocity=0.05, seed=seed)
        out = []
        for k in range(1, 501):
            arm.advance(k * DT)
            arm.sample(k * DT, k)
            (s,) = arm.states(k * DT)
            out.append(np.concatenate([s.position, s.velocity]))
        return np.array(out)

    a, b, c = samples(1), samples(1), samples(2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # At rest: the spread is the noise's (positions barely move, velocities are ~0).
    assert np.std(a[:, :9] - a[:, :9].mean(0), axis=0) == pytest.approx(np.full(9, 0.01), rel=0.2)
    assert np.std(a[:, 9:], axis=0) == pytest.approx(np.full(9, 0.05), rel=0.2)


def test_protective_stop_brings_the_arm_to_rest_and_ignores_commands(robot):
    arm = make_arm(robot, start="home")
    arm.command(command(robot, joint_1=0.5, joint_2=-0.4, finger_1=1.0), 0.0)
    run(arm, 0.5)
    assert arm.velocities()["joint_1"] == pytest.approx(0.5, abs=0.02)
    arm.protective_stop(True, 0.5)
    assert arm.mode == "stopped"
    run(arm, 1.0)
    assert max(abs(v) for v in arm.velocities().values()) < 0.01
    held = arm.positions()
    arm.command(command(robot, joint_3=0.5), 1.0)
    home = parse_trajectory(robot, ["j2n6s300_joint_1"], [0.5], [[0.0]])
    arm.follow(home, 1.0)
    run(arm, 2.0)
    assert arm.ignored == 2
    moved = {j: abs(p - held[j]) for j, p in arm.positions().items()}
    assert max(moved.values()) < 1e-3, moved
    states = []
    for k in range(5):
        arm.sample(2.0 + k * DT, k)
        states += arm.states(2.0 + k * DT)
    assert len(states) == 5  # joint states go on
    arm.protective_stop(False, 2.0)
    run(arm, 2.3)
    assert max(abs(v) for v in arm.velocities().values()) < 0.01  # cleared: still at rest
    arm.command(command(robot, joint_3=0.5), 2.3)
    run(arm, 2.8)
    assert arm.velocities()["joint_3"] == pytest.approx(0.5, abs=0.02)
    levels = [level for level, _ in arm.events()]
    assert "error" in levels and levels.count("warn") == 2


def test_trajectory_reaches_the_goal_within_tolerance_never_faster_than_the_limits(robot):
    arm = make_arm(robot, seed=3)  # near home
    start = arm.positions()
    goal = {j: robot.home[j] for j in arm.joints}
    goal["joint_2"] += 0.4
    goal["finger_2"] = 0.9
    # Vendor names in an order of their own; the second point asks for more than the limits.
    names = list(reversed(robot.trajectory.joints))
    model = robot.model()
    halfway = [(start[model[n]] + goal[model[n]]) / 2 for n in names]
    end = [goal[model[n]] for n in names]
    arm.follow(parse_trajectory(robot, names, [1.5, 1.7], [halfway, end]), 0.0)
    seen = run(arm, 4.0)
    reached = arm.positions()
    assert max(abs(reached[j] - goal[j]) for j in goal) < robot.home_tolerance, reached
    fastest = {j: max(abs(v[j]) for v in seen) for j in arm.joints}
    asked = np.max(np.abs([v["target"] for v in seen]), axis=0)
    assert np.all(asked <= arm.limit)  # saturated before the servos (their range would too)
    for k, j in enumerate(arm.joints):
        assert fastest[j] <= arm.limit[k] * 1.05, (j, fastest[j], arm.limit[k])
    k2 = arm.joints.index("joint_2")
    assert fastest["joint_2"] >= 0.95 * arm.limit[k2]  # the last segment saturated joint_2
    assert max(abs(v) for v in arm.velocities().values()) < 0.01  # holding the last point
    assert arm.mode == "trajectory"


def test_a_trajectory_has_priority_until_its_end_then_commands_take_over(robot):
    arm = make_arm(robot, start="home")
    goal = robot.home["joint_1"] + 0.2
    arm.follow(parse_trajectory(robot, ["j2n6s300_joint_1"], [1.0], [[goal]]), 0.0)
    arm.command(command(robot, joint_1=-0.5), 0.5)  # while it runs: ignored
    run(arm, 1.5)
    assert arm.ignored == 1
    assert arm.positions()["joint_1"] == pytest.approx(goal, abs=0.01)
    # Joints a trajectory does not name hold where they were.
    assert arm.positions()["joint_2"] == pytest.approx(robot.home["joint_2"], abs=1e-3)
    arm.command(command(robot, joint_1=-0.5), 1.5)  # after its end: velocity control again
    run(arm, 2.0)
    assert arm.mode == "velocity"
    assert arm.velocities()["joint_1"] == pytest.approx(-0.5, abs=0.02)
    # An empty trajectory stops the arm where it is (a joint_trajectory_controller's rule).
    arm.follow(parse_trajectory(robot, [], [], []), 2.0)
    run(arm, 2.5)
    assert arm.mode == "trajectory"
    assert max(abs(v) for v in arm.velocities().values()) < 0.01


def test_commands_map_by_the_controllers_vendor_names_not_by_position(robot):
    raw = yaml.safe_load(robot_path("jaco").read_text())
    shuffled = list(reversed(raw["controllers"]["velocity"]["joints"]))
    raw["controllers"]["velocity"]["joints"] = shuffled
    other = parse_robot(raw, "test")
    values = [0.0] * 9
    values[shuffled.index("j2n6s300_joint_3")] = 0.3
    mapped = vendor_command(other, values)
    assert mapped["joint_3"] == 0.3 and sum(abs(v) for v in mapped.values()) == 0.3
    arm = make_arm(other, start="home")
    before = arm.positions()
    arm.command(mapped, 0.0)
    run(arm, 0.5)
    after = arm.positions()
    assert after["joint_3"] - before["joint_3"] == pytest.approx(0.15, abs=0.01)
    assert all(abs(after[j] - before[j]) < 2e-3 for j in after if j != "joint_3")
    # joint_states: broadcast order, vendor names, each value the named joint's.
    arm.sample(0.5, 0)
    (state,) = arm.states(0.5)
    assert state.names == other.broadcast_order
    truth = {other.joints[j]: p for j, p in after.items()}
    assert dict(zip(state.names, state.position.tolist(), strict=True)) == truth


def test_bad_commands_and_trajectories_are_refused_saying_why(robot):
    with pytest.raises(ValueError, match=r"needs 9 values.*got 8"):
        vendor_command(robot, [0.0] * 8)
    with pytest.raises(ValueError, match=r"needs 9 values.*got 10"):
        vendor_command(robot, [0.0] * 10)
    with pytest.raises(ValueError, match="finite"):
        vendor_command(robot, [float("nan")] + [0.0] * 8)
    with pytest.raises(ValueError, match=r"unknown joint\(s\) \['joint_1'\]"):
        parse_trajectory(robot, ["joint_1"], [1.0], [[0.0]])  # a model name, not the vendor's
    with pytest.raises(ValueError, match="each joint once"):
        parse_trajectory(robot, ["j2n6s300_joint_1"] * 2, [1.0], [[0.0, 0.0]])
    with pytest.raises(ValueError, match="needs 2 positions"):
        parse_trajectory(robot, ["j2n6s300_joint_1", "j2n6s300_joint_2"], [1.0], [[0.0]])
    with pytest.raises(ValueError, match="increase strictly"):
        parse_trajectory(robot, ["j2n6s300_joint_1"], [1.0, 1.0], [[0.0], [0.1]])
    with pytest.raises(ValueError, match="velocity servos"):
        EmulatedArm(robot, get_suite("jaco").make_scene())  # the torque variant


def test_starts_at_home_or_near_it(robot):
    home = make_arm(robot, start="home").positions()
    assert home == pytest.approx(dict(robot.home))
    near = make_arm(robot, seed=4).positions()
    offset = np.array([near[j] - robot.home[j] for j in near])
    assert np.all(np.abs(offset) <= 0.05 + 1e-9) and np.abs(offset).max() > 0.01


def test_a_long_stall_is_not_made_up(robot):
    arm = make_arm(robot, start="home")
    assert arm.advance(0.5) == 250
    assert arm.advance(0.5 + MAX_CATCH_UP + 2.0) == 1  # re-anchored, not 1500 steps at once
    assert arm.skipped == pytest.approx(MAX_CATCH_UP + 2.0 - DT, abs=1e-6)
    assert arm.advance(3.6) == 50


def test_a_trajectory_stamped_in_the_future_starts_then(robot):
    arm = make_arm(robot, start="home")
    goal = robot.home["joint_5"] - 0.1
    arm.follow(parse_trajectory(robot, ["j2n6s300_joint_5"], [0.5], [[goal]]), 0.0, start_at=1.0)
    run(arm, 0.99)
    assert arm.positions()["joint_5"] == pytest.approx(robot.home["joint_5"], abs=1e-4)
    run(arm, 2.0)
    assert arm.positions()["joint_5"] == pytest.approx(goal, abs=0.01)


def test_the_robot_description_names_the_vendors_joints_with_the_models_limits(robot):
    urdf = get_suite(robot.suite).urdf()
    renamed = vendor_urdf(urdf, robot)
    model_limits, model_order = limits_from_description(urdf)
    vendor_limits, vendor_order = limits_from_description(renamed)
    assert vendor_order == [robot.joints[j] for j in model_order]
    assert all(vendor_limits[robot.joints[j]] == model_limits[j] for j in robot.joints)
    assert "Generated by" in renamed  # the generator's header survives


def with_objects(robot, every: int = 1, seed: int = 0, **link) -> tuple[EmulatedArm, SceneObjects]:
    arm = make_arm(robot, seed=seed, start="home", **link)
    return arm, SceneObjects(arm.scene, arm.joints, arm.link, seed, every)


def test_object_poses_are_sampled_with_joint_states_and_carry_their_stamps(robot):
    assert (stride(500, 100), stride(100, 100), stride(50, 100), stride(500, 150)) == (5, 1, 1, 4)
    arm, objects = with_objects(robot, every=5, latency=0.01)
    d = arm.data
    d.qvel[arm.model.joint("block").dofadr[0] + 1] = 0.5  # the block slides: poses change
    states, samples, truth = {}, [], {}
    for k in range(1, 201):
        now = k * DT
        arm.advance(now)
        arm.sample(now, k)
        if objects.sample(now, k):
            truth[k] = arm.scene.object_poses()
        states.update({s.stamp: now for s in arm.states(now)})
        samples += [(s, now) for s in objects.samples(now)]
    assert list(truth) == list(range(1, 201, 5))  # every 5th joint state, the first included
    assert [s.stamp for s, _ in samples] == list(range(1, 196, 5))  # in order, 10 ms late
    for sample, arrived in samples:
        assert sample.stamp in states and arrived == pytest.approx(sample.stamp * DT + 0.01)
        assert set(sample.poses) == {"block", "goal"}
        for name, (position, quat) in sample.poses.items():
            assert np.array_equal(position, truth[sample.stamp][name][0])
            assert np.array_equal(quat, truth[sample.stamp][name][1])
    moved = samples[-1][0].poses["block"][0] - samples[0][0].poses["block"][0]
    assert moved[1] > 0.002  # sampled when taken, not once


def test_object_poses_are_lost_independently_of_the_joint_states(robot):
    arm, objects = with_objects(robot, drop=0.3, seed=2)
    got_states, got_poses = set(), set()
    for k in range(1, 3001):
        arm.advance(k * DT)
        arm.sample(k * DT, k)
        objects.sample(k * DT, k)
        got_states |= {s.stamp for s in arm.states(k * DT)}
        got_poses |= {s.stamp for s in objects.samples(k * DT)}
    lost_states, lost_poses = set(range(1, 3001)) - got_states, set(range(1, 3001)) - got_poses
    assert len(lost_poses) / 3000 == pytest.approx(0.3, abs=0.03) == objects.outbound.lost / 3000
    assert len(lost_states & lost_poses) / 3000 == pytest.approx(0.09, abs=0.02)  # 0.3 x 0.3


def test_scene_reset_redraws_block_and_goal_and_leaves_the_arm_as_it_is(robot):
    arm, objects = with_objects(robot, seed=7)
    arm.command(command(robot, joint_1=0.3, finger_2=0.5), 0.0)
    run(arm, 0.5)
    before = (arm.positions(), arm.velocities(), arm.target.copy(), arm.scene.object_poses())
    poses = objects.reset()
    assert arm.positions() == before[0] and arm.velocities() == before[1]
    assert np.array_equal(arm.target, before[2])
    for name in ("block", "goal"):
        assert np.linalg.norm(poses[name][0] - before[3][name][0]) > 1e-3, name
        assert np.array_equal(poses[name][0], arm.scene.object_poses()[name][0])
    # Drawn as the suite's reset draws an episode of its default task (push): on the bench.
    (x, y, z), (gx, gy, _) = poses["block"][0], poses["goal"][0]
    assert BLOCK_REGION[0][0] <= x <= BLOCK_REGION[0][1] and BLOCK_REGION[1][0] <= y
    assert GOAL_REGION[0][0] <= gx <= GOAL_REGION[0][1] and abs(gy) <= GOAL_REGION[1][1]
    text = describe(poses)
    assert f"block at ({x:.3f}, {y:.3f}, {z:.3f}) m" in text and "goal at (" in text
    assert f"yaw {np.degrees(yaw(poses['block'][1])):.0f} deg" in text
    run(arm, 1.0)  # the arm goes on as commanded
    assert arm.velocities()["joint_1"] == pytest.approx(0.3, abs=0.02)
    # Seeded: the same seed draws the same resets, another seed others.
    again, other = with_objects(robot, seed=7)[1], with_objects(robot, seed=8)[1]
    assert np.array_equal(again.reset()["block"][0], poses["block"][0])
    assert not np.array_equal(other.reset()["block"][0], poses["block"][0])
    assert objects.reset()["block"][0].tolist() != poses["block"][0].tolist()  # a new draw


def test_camera_frames_come_at_most_at_their_rate_on_a_grid():
    cadence = Cadence(2.0)
    assert [cadence.due(t) for t in (0.0, 0.3, 0.499, 0.5, 0.99, 1.001)] == [
        True, False, False, True, False, True,
    ]  # fmt: skip
    assert cadence.due(5.0) and not cadence.due(5.2) and cadence.due(5.5)  # re-anchored
    cadence, rng = Cadence(2.0), np.random.default_rng(0)
    ticks = np.cumsum(0.002 + rng.uniform(0.0, 0.003, 5000))  # a late 500 Hz timer
    due = [t for t in ticks if cadence.due(float(t))]
    assert len(due) == pytest.approx(2.0 * (ticks[-1] - ticks[0]), abs=1.5)
    with pytest.raises(ValueError, match="positive rate"):
        Cadence(0.0)
