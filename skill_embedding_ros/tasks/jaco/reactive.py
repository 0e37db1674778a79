"""A reactive controller for the Jaco's pre-training tasks: the scripted pick-and-place of
scripted.py with its phase read from the observation instead of remembered (ROS-free).

scripted.py's controller keeps a phase and counts steps (it closes the fingers for a count of
steps, it lifts from where it grasped), so a policy of the observation cannot copy it: cloning
its demonstrations reached 0 % (docs/jaco_pretraining.md). Here the action is a function of the
34-D observation alone, so a policy network can represent it exactly, and it can be asked for
the right action at any state, the learner's own included (DAgger labelling):

* not holding the block: above it, down to the grasp point, close there;
* holding it (the fingers stopped on it, between CONTACT and MISSED, the block at the grasp
  point): lifted tasks carry it to the goal point; placing tasks raise it, carry it over the
  goal and lower it there;
* the block placed (the task's own success test): open the hand and rise (spring: hold on).

It reuses scripted.py's waypoints, heights and joint-velocity law.
"""

from __future__ import annotations

import numpy as np

from skill_embedding_ros.tasks.jaco import rewards
from skill_embedding_ros.tasks.jaco.layouts import LIFTED
from skill_embedding_ros.tasks.jaco.observations import SLICES
from skill_embedding_ros.tasks.jaco.scripted import (
    APPROACH,
    CLEAR,
    GRASP_ABOVE,
    LIFT,
    NEAR,
    OVER_WALL,
    SETTLE,
    UP,
    ScriptedController,
    block_yaw,
)

CONTACT = 0.85
"""rad: mean finger angle from which closed fingers are taken to hold the 5 cm block (they
stop on it near 0.95 from the preshape; measured on the scripted grasps)."""
MISSED = 1.25
"""rad: fingers closed past this hold nothing (fully closed is 1.35)."""
STALLED = 1.0
"""rad/s: the fingers have stopped closing when every finger is slower than this."""
HOLD = 0.03
"""m: the grip site within this of the grasp point while the block is held."""
OPEN = 0.7
"""rad: after a release the hand rises once the fingers' mean is below this."""


class ReactiveController(ScriptedController):
    """obs -> action in [-1, 1] per joint, a pure function of the observation (`reset` is a
    no-op kept for the scripted controller's interface)."""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float64)
        name, target, close = self.decide(obs)
        return self._command(obs, name, target, close, block_yaw(obs))

    def decide(self, obs: np.ndarray) -> tuple[str, np.ndarray, bool]:
        """(phase name, grip-site target, close the fingers) at this observation."""
        ee, block = obs[SLICES["end_effector"]], obs[SLICES["block_position"]]
        goal, fingers = obs[SLICES["goal"]], obs[SLICES["finger_angle"]]
        grasp = block + GRASP_ABOVE * UP
        lifted = self.task in LIFTED
        if not lifted and bool(rewards.placed(obs)):
            if self.task == "spring":  # released, the spring would pull the block back
                return "release", ee, True
            if fingers.mean() < OPEN:  # let go: rise
                return "away", goal + APPROACH * UP, False
            return "release", goal, False
        if self._holding(obs, ee, grasp, fingers):
            if lifted:
                return "goal", goal + GRASP_ABOVE * UP, True
            height = goal[2] + LIFT
            if self.task == "wall":
                height = max(height, OVER_WALL)
            height += GRASP_ABOVE
            planar = np.linalg.norm(block[:2] - goal[:2])
            # Once lowering (below the carry height), a block swung up to 2.5 NEAR off the goal
            # goes on down: going back up from there oscillated (wall, 2 of 20 episodes).
            if planar < NEAR or (planar < 2.5 * NEAR and ee[2] < height - NEAR):
                return "lower", goal + (GRASP_ABOVE + 0.003) * UP, True
            if ee[2] < height - NEAR:
                return "up", np.r_[ee[:2], height], True
            return "over", np.r_[goal[:2], height], True
        if fingers.mean() > MISSED:  # closed on nothing: open while going back above
            return "above", grasp + APPROACH * UP, False
        hover = grasp + APPROACH * UP
        planar = np.linalg.norm(hover[:2] - ee[:2])
        if planar > NEAR:
            if ee[2] < hover[2] - NEAR and planar < CLEAR:
                return "above", np.r_[ee[:2], hover[2]], False  # rise before crossing
            return "above", hover, False
        if np.linalg.norm(ee - grasp) > SETTLE and fingers.mean() < CONTACT:
            return "down", grasp, False
        return "close", grasp, True

    @staticmethod
    def _holding(obs, ee, grasp, fingers) -> bool:
        velocity = obs[SLICES["finger_velocity"]]
        return bool(
            CONTACT <= fingers.mean() <= MISSED
            and np.all(np.abs(velocity) < STALLED)
            and np.linalg.norm(ee - grasp) < HOLD
        )


CONTROLLERS = {"scripted": ScriptedController, "reactive": ReactiveController}
"""The Jaco's demonstrators by name (bench_jaco_scripted.py, scripts/jaco_demo_bag.py)."""
