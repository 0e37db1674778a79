"""The Jaco suite (tasks/jaco/): dm_control's model as installed, the datasheet limits by name as
the gate reads them, the 34-D observation against the simulator, the push task's reward and
success, and a scripted push that the success rule accepts."""

import subprocess
from pathlib import Path

import dm_control
import mujoco
import numpy as np
import pytest

from skill_embedding_ros.control.joint_limits import commanded_limits
from skill_embedding_ros.control.torque import TorqueJoints
from skill_embedding_ros.tasks.env import SuiteEnv
from skill_embedding_ros.tasks.jaco.model import ARM, GRIP_SITE, JOINTS, KINOVA, MESHES
from skill_embedding_ros.tasks.jaco.observations import OBS_DIM, SLICES
from skill_embedding_ros.tasks.jaco.suites import JACO, JACO_VELOCITY
from skill_embedding_ros.tasks.registry import get_suite

REPO = Path(__file__).resolve().parents[1]
SUITES = [JACO, JACO_VELOCITY]
TORQUE = [30.5] * 3 + [6.8] * 3 + [1.0] * 3  # N·m: Kinova's datasheet, dm_control's hand
SPEED = [np.deg2rad(36)] * 3 + [np.deg2rad(48)] * 3 + [5.0] * 3  # rad/s
RANGES = {"joint_2": (0.820305, 5.462881), "joint_3": (0.331613, 5.951573)}


def test_the_model_is_dm_controls_as_installed():
    assert get_suite("jaco") is JACO and get_suite("jaco_velocity") is JACO_VELOCITY
    text = JACO.description()
    assert f'meshdir="{MESHES}"' in text and MESHES.is_relative_to(KINOVA)
    assert KINOVA.parents[1] == Path(dm_control.__file__).parent  # the installed package's
    assert (KINOVA / "jaco_arm.xml").is_file() and (KINOVA / "jaco_hand.xml").is_file()
    model = mujoco.MjModel.from_xml_string(text)  # compiles alone: what the gate does
    assert model.nmesh == 9
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True)
    models = [f for f in tracked.stdout.split() if f.endswith((".xml", ".stl", ".obj"))]
    copies = [f for f in models if "jaco" in f.lower() or "kinova" in f.lower()]
    assert not copies, copies


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_the_gate_reads_the_datasheet_limits_by_name(suite):
    joints, limits = commanded_limits(suite.description())
    assert (
        joints
        == list(JOINTS)
        == [f"joint_{i}" for i in range(1, 7)] + [f"finger_{i}" for i in range(1, 4)]
    )
    np.testing.assert_allclose([lim.effort for lim in limits], TORQUE)
    np.testing.assert_allclose([lim.velocity for lim in limits], SPEED)
    by_name = dict(zip(joints, limits, strict=True))
    for name in ("joint_1", "joint_4", "joint_5", "joint_6"):  # continuous
        assert (by_name[name].lower, by_name[name].upper) == (-np.inf, np.inf)
    for name, (low, high) in RANGES.items():
        assert (by_name[name].lower, by_name[name].upper) == (low, high)
    for name in ("finger_1", "finger_2", "finger_3"):
        assert (by_name[name].lower, by_name[name].upper) == (0.15, 1.35)
    if suite.actuator == "velocity":  # dm_control's servos: kv 500 (arm), 10 (fingers)
        assert min(lim.lag for lim in limits) > 0.004 and max(lim.lag for lim in limits) < 0.011
    else:  # the gate's torque interface has all it needs: it starts on this description
        TorqueJoints.of(joints, limits)
    np.testing.assert_allclose(suite.limits, TORQUE if suite.actuator == "torque" else SPEED)
    np.testing.assert_allclose(suite.command(np.ones(9)), suite.limits)
    np.testing.assert_allclose(suite.action(suite.command(np.full(9, -0.5))), -0.5, rtol=1e-6)


def test_home_puts_the_hand_above_the_table_pointing_down_touching_nothing():
    scene = JACO_VELOCITY.make_scene()
    scene.reset(np.random.default_rng(0))
    m, d = scene.model, scene.data
    d.qpos[[m.joint(j).qposadr[0] for j in ARM]] = JACO_VELOCITY.home
    mujoco.mj_forward(m, d)
    site = m.site(GRIP_SITE).id
    np.testing.assert_allclose(d.site_xpos[site], [0.35, 0.0, 0.12], atol=1e-3)
    np.testing.assert_allclose(d.site_xmat[site].reshape(3, 3)[:, 2], [0, 0, -1], atol=1e-3)
    pairs = [(c.geom1, c.geom2) for c in d.contact[: d.ncon]]
    touching = {m.body(m.geom_bodyid[g]).name for pair in pairs for g in pair}
    assert touching <= {"table", "block"}, touching  # only the block resting on the table


def _substeps(scene, command):
    """One control period stepped physics step by physics step: the block's mean velocity."""
    scene.data.ctrl[scene._ctrl] = np.clip(command, scene._low, scene._high)
    adr = scene.model.joint("block").dofadr[0]
    velocities = []
    for _ in range(scene.substeps):
        mujoco.mj_step(scene.model, scene.data)
        velocities.append(scene.data.qvel[adr : adr + 3].copy())
    return np.mean(velocities, 0)


def test_the_observation_is_what_the_simulator_holds():
    """Each slot against MuJoCo's own state: angles and velocities by name, the grip site's
    position (FK of the description) and the block's pose; the block's velocity from its poses is
    its mean velocity over the period (MuJoCo's semi-implicit step moves it by qvel_{n+1} dt)."""
    suite = JACO_VELOCITY
    scene, observer = suite.make_scene(), suite.observer()
    scene.reset(np.random.default_rng(3))
    m, d = scene.model, scene.data
    adr = m.joint("block").dofadr[0]
    d.qvel[adr : adr + 6] = [0.4, -0.3, 1.5, 2.0, 0.0, 1.0]  # tossed: in flight for ~0.3 s
    rng = np.random.default_rng(4)
    period_ns = round(suite.control_period * 1e9)
    first = observer(scene.joint_positions(), scene.joint_velocities(), scene.object_poses(), 0)
    np.testing.assert_array_equal(first[SLICES["block_velocity"]], 0.0)  # no history yet
    for k in range(1, 5):
        mean_velocity = _substeps(scene, suite.command(rng.uniform(-1, 1, 9)))
        obs = observer(
            scene.joint_positions(), scene.joint_velocities(), scene.object_poses(), k * period_ns
        )
        mujoco.mj_forward(m, d)
        assert obs.shape == (OBS_DIM,) and obs.dtype == np.float32
        q = [d.qpos[m.joint(j).qposadr[0]] for j in JOINTS]
        v = [d.qvel[m.joint(j).dofadr[0]] for j in JOINTS]
        np.testing.assert_allclose(obs[:6], q[:6], atol=1e-5)
        np.testing.assert_allclose(obs[6:12], v[:6], atol=1e-5)
        np.testing.assert_allclose(obs[SLICES["finger_angle"]], q[6:], atol=1e-5)
        np.testing.assert_allclose(obs[SLICES["finger_velocity"]], v[6:], atol=1e-5)
        ee, block = d.site_xpos[m.site(GRIP_SITE).id], m.body("block").id
        np.testing.assert_allclose(obs[SLICES["end_effector"]], ee, atol=1e-5)
        np.testing.assert_allclose(obs[SLICES["block_position"]], d.xpos[block], atol=1e-5)
        quat = obs[SLICES["block_orientation"]]
        assert quat[0] >= 0 and abs(np.dot(quat, d.xquat[block])) == pytest.approx(1, abs=1e-5)
        np.testing.assert_allclose(obs[SLICES["block_velocity"]], mean_velocity, atol=1e-4)
        np.testing.assert_allclose(
            obs[SLICES["goal"]], d.mocap_pos[m.body("goal").mocapid[0]], atol=1e-6
        )
        assert np.linalg.norm(mean_velocity) > 0.3  # the block moves in every period


def test_the_env_observes_through_the_same_read_out_and_stays_finite():
    """A fresh observer fed the SimRobot's read-out sees what SuiteEnv saw; two episodes of random
    steps in each interface stay finite with rewards in [0, 1], every action applied unclipped."""
    for suite in SUITES:
        env = SuiteEnv(suite, ["push"], seed=5)
        shadow = suite.observer()
        obs, _ = env.reset(seed=5)
        shadow.reset()
        rng, episodes = np.random.default_rng(6), 0
        for _ in range(2 * suite.episode_steps):
            state = env.robot.read()
            np.testing.assert_array_equal(
                obs, shadow(state.positions, state.velocities, state.poses, state.stamp_ns)
            )
            action = rng.uniform(-1, 1, 9).astype(np.float32)
            obs, reward, _, truncated, info = env.step(action)
            assert np.all(np.isfinite(obs)) and 0.0 <= reward <= 1.0
            # Nothing an action asks is clipped in process (the joints' ranges stop the arm), as
            # the graph records a limited command as proposed (agent/actor.py settle).
            np.testing.assert_allclose(info["executed"], action, atol=1e-6)
            if truncated:
                episodes += 1
                obs, _ = env.reset()
                shadow.reset()
        assert episodes == 2


def _obs(ee=(0.35, 0.0, 0.12), block=(0.5, 0.0, 0.025), goal=(0.5, 0.15, 0.025)):
    obs = np.zeros(OBS_DIM, np.float32)
    obs[SLICES["end_effector"]], obs[SLICES["block_position"]] = ee, block
    obs[SLICES["block_orientation"]], obs[SLICES["goal"]] = (1, 0, 0, 0), goal
    return obs


def test_reward_and_success_from_hand_built_observations():
    suite = JACO
    at_goal = _obs(ee=(0.5, 0.1, 0.04), block=(0.5, 0.15, 0.025))
    reach, push = np.linalg.norm([0, 0.05, 0.015]), 0.0
    expected = 0.2 * (1 - np.tanh(4 * reach)) + 0.5 * (1 - np.tanh(5 * push)) + 0.3
    assert suite.reward("push", at_goal) == pytest.approx(expected, abs=1e-6)
    far = _obs(ee=(0.0, 0.6, 0.5), block=(0.2, -0.6, 0.025), goal=(0.6, 0.3, 0.025))
    assert suite.reward("push", far) < 0.01
    lifted = _obs(block=(0.5, 0.15, 0.1))  # above the goal, not resting in it
    assert not suite.inside(lifted) and suite.inside(at_goal)
    assert (
        suite.reward("push", at_goal) - suite.reward("push", _obs(block=(0.5, 0.1, 0.025))) > 0.3
    )
    batch = suite.rewards(("push",), np.stack([far, at_goal]))
    assert batch.shape == (2, 1) and batch[1, 0] == suite.reward("push", at_goal)
    with pytest.raises(ValueError, match="valid tasks"):
        suite.reward("fly", at_goal)

    def episode(inside_steps):  # obs [L+1, S]: the block at the goal on the given steps
        return np.stack([at_goal if k in inside_steps else far for k in range(201)])

    episodes = np.stack(
        [
            episode(range(90, 201)),  # arrives at step 90 and stays: 111 of 200 steps
            episode(range(180, 201)),  # arrives at the very end
            episode(range(0, 160)),  # was there, then pushed out again
        ]
    )
    np.testing.assert_array_equal(suite.visits("push", episodes)[0], [-1] * 89 + [0] * 111)
    np.testing.assert_array_equal(suite.outcomes("push", episodes), [0, -1, -1])
    assert suite.solutions("push") == (0,)


def _scripted_push(env):
    """A crude Cartesian push with the velocity interface (reads the simulator's Jacobian: a
    test expert, not a policy): fist closed, behind the block, down, then through to the goal."""
    suite, scene = env.suite, env.robot.scene
    m, d = scene.model, scene.data
    site, dofs = m.site(GRIP_SITE).id, [m.joint(j).dofadr[0] for j in ARM]
    obs, _ = env.reset()
    block, goal = obs[SLICES["block_position"]], obs[SLICES["goal"]]
    u = (goal[:2] - block[:2]) / np.linalg.norm(goal[:2] - block[:2])
    episode, phase = [obs], 0
    for _ in range(suite.episode_steps):
        ee, block = obs[SLICES["end_effector"]], obs[SLICES["block_position"]]
        behind = block[:2] - 0.09 * u
        target = [np.r_[behind, 0.15], np.r_[behind, 0.035], np.r_[goal[:2] - 0.065 * u, 0.035]]
        if phase < 2 and np.linalg.norm(ee - target[phase]) < (0.02, 0.015)[phase]:
            phase += 1
        v = 4 * (target[phase] - ee)
        v *= min(1.0, 0.25 / np.linalg.norm(v))
        mujoco.mj_forward(m, d)
        jp, jr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
        mujoco.mj_jacSite(m, d, jp, jr, site)
        w = 2 * np.cross(d.site_xmat[site].reshape(3, 3)[:, 2], [0, 0, -1])  # keep pointing down
        jac = np.vstack([jp[:, dofs], jr[:, dofs]])
        qd = jac.T @ np.linalg.solve(jac @ jac.T + 1e-3 * np.eye(6), np.r_[v, w])
        obs, *_ = env.step(np.clip(np.r_[qd, 3, 3, 3] / suite.limits, -1, 1))
        episode.append(obs)
    return np.stack(episode)


def test_a_scripted_push_succeeds_by_the_strict_rule():
    """The task is solvable in an episode at the datasheet's speed limits, and the success rule
    (ends in the region, stayed half the episode) accepts a push that gets there."""
    env = SuiteEnv(JACO_VELOCITY, ["push"], seed=1)
    episodes = np.stack([_scripted_push(env) for _ in range(3)])
    outcomes = JACO_VELOCITY.outcomes("push", episodes)
    assert (outcomes == 0).sum() >= 2, outcomes
    assert JACO_VELOCITY.reward("push", episodes[:, -1]).max() > 0.8


def test_the_observer_names_what_is_missing_or_not_finite():
    scene, observer = JACO.make_scene(), JACO.observer()
    scene.reset(np.random.default_rng(0))
    q, v, poses = scene.joint_positions(), scene.joint_velocities(), scene.object_poses()
    with pytest.raises(ValueError, match="missing \\['finger_2'\\]"):
        observer({k: x for k, x in q.items() if k != "finger_2"}, v, poses, 0)
    with pytest.raises(ValueError, match="missing \\['goal'\\]"):
        observer(q, v, {"block": poses["block"]}, 0)
    with pytest.raises(ValueError, match="block_position"):
        observer(q, v, {**poses, "block": (np.array([np.nan, 0, 0]), poses["block"][1])}, 0)
    with pytest.raises(ValueError, match="arm_angle"):
        observer({**q, "joint_3": np.inf}, v, poses, 0)
    with pytest.raises(ValueError, match="finite numbers"):
        scene.step(np.full(9, np.nan))
