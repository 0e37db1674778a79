"""What stands around the Jaco: every scene element of every task, in one MJCF (ROS-free).

One model serves every task (one joint list, one observation, one description for the gate), so
an element a task does not use is switched off at reset rather than left out of the model
(scene.py): a wall or the platform (mocap bodies) is parked below the floor, the spring's
stiffness is zero, the rail's weld is inactive. Elements:

* the bench, its top at z = 0: the back part the arm stands on, and the workspace in front of
  it (a mocap body too: rail-lift has no table under the block, as in the paper);
* the block (5 cm cube, free) and the goal marker (a mocap body: the scene places it);
* two walls (thin boxes; the L-wall task uses both);
* the platform: a raised table top (the paper's "table" in table-push and rail-push);
* the spring: a spatial tendon from the block's centre to an anchor site set at the block's start;
* the rail: a carriage on a vertical slide joint, welded to the block while the rail holds it.
"""

from __future__ import annotations

BENCH_X = (-0.3, 0.15, 0.9)
"""m: the bench's back edge, where its back part (under the arm's base, at x = 0) meets the
workspace, and its front edge. Its surface is z = 0; the workspace is in front (+x)."""
BENCH_HALF_Y = 0.75
"""m: half the bench's width."""
BENCH_HALF_Z = 0.02
"""m: half the bench top's thickness."""
BLOCK_HALF = 0.025
"""Half edge (m) of the cube: 5 cm, well inside the open hand's span."""
BLOCK_MASS = 0.1
GOAL_RADIUS = 0.05
"""Radius (m) of the goal region, drawn as the goal marker's sphere."""
WALL_HALF = (0.01, 0.1, 0.03)
"""Half extents (m) of a wall: 2 cm thick, 20 cm long, 6 cm high (above the block: a push
along the ground cannot pass it)."""
WALLS = ("wall_1", "wall_2")
PLATFORM_HALF = (0.1, 0.1)
"""Half extents (m) of the platform's top: a 20 cm square."""
PLATFORM_TOP = 0.06
"""m: the platform's top above the bench (a block must be lifted onto it)."""
RAIL_LENGTH = 0.3
"""m: how far the carriage slides up the rail from the bench."""
SPRING_STIFFNESS = 12.0
"""N/m: 1.8 N at 15 cm, about twice the block's sliding friction on the bench (mu = 1, 0.98
N): a block pushed to the goal and let go slides back; it has to be held there."""
SPRING_DAMPING = 1.0
"""N s/m: the block does not oscillate about its anchor."""
WORKSPACE = ((BENCH_X[1] + BENCH_X[2]) / 2, 0.0, -BENCH_HALF_Z)
"""m: where the workspace's centre lies when the task has it (every task but rail-lift)."""
PARKED = (0.0, 0.0, -2.0)
"""m: where an unused wall, the platform or the workspace waits, below the floor (static geoms
do not collide with each other, and nothing that moves gets there)."""


def add_props(root) -> None:
    """Add every scene element to the mjcf root (`dm_control.mjcf.RootElement`)."""
    world = root.worldbody
    world.add("light", pos=(0, 0, 2.0), dir=(0, 0, -1), directional=True)
    world.add("geom", name="floor", type="plane", size=(3, 3, 0.1), pos=(0, 0, -0.75))
    back, joint, front = BENCH_X
    bench = {"type": "box", "friction": (0.5, 0.005, 0.0001), "rgba": (0.55, 0.45, 0.35, 1)}
    world.add(
        "geom",
        name="bench",
        size=((joint - back) / 2, BENCH_HALF_Y, BENCH_HALF_Z),
        pos=((back + joint) / 2, 0, -BENCH_HALF_Z),
        **bench,
    )
    # The workspace, walls and the platform move between tasks, so each is a mocap body: MuJoCo
    # builds the world body's collision hierarchy once at compile time, and a world geom moved
    # later would no longer be found by contacts.
    table = world.add("body", name="table", mocap=True, pos=WORKSPACE)
    table.add(
        "geom", name="table", size=((front - joint) / 2, BENCH_HALF_Y, BENCH_HALF_Z), **bench
    )
    for name in WALLS:
        wall = world.add("body", name=name, mocap=True, pos=PARKED)
        wall.add("geom", name=name, type="box", size=WALL_HALF, rgba=(0.4, 0.4, 0.6, 1))
    platform = world.add("body", name="platform", mocap=True, pos=PARKED)
    platform.add(
        "geom",
        name="platform",
        type="box",
        size=(*PLATFORM_HALF, PLATFORM_TOP / 2),
        friction=(0.5, 0.005, 0.0001),
        rgba=(0.45, 0.55, 0.35, 1),
    )
    world.add("site", name="spring_anchor", pos=PARKED, size=(0.01,), rgba=(0.9, 0.9, 0.2, 1))
    block = world.add("body", name="block", pos=(0.5, 0, BLOCK_HALF))
    block.add("freejoint", name="block")
    block.add(
        "geom",
        name="block",
        type="box",
        size=(BLOCK_HALF,) * 3,
        mass=BLOCK_MASS,
        rgba=(0.8, 0.2, 0.2, 1),
    )
    block.add("site", name="block_centre", size=(0.005,))
    spring = root.tendon.add(
        "spatial", name="spring", stiffness=0.0, damping=0.0, springlength=(0.0, 0.0)
    )
    spring.add("site", site="spring_anchor")
    spring.add("site", site="block_centre")
    # The carriage is parked with the rail's pole; its geom only gives it mass (no contacts).
    rail = world.add("body", name="rail", pos=PARKED)
    rail.add(
        "geom",
        name="rail",
        type="cylinder",
        size=(0.006, RAIL_LENGTH / 2 + BLOCK_HALF),
        pos=(0, 0, RAIL_LENGTH / 2),
        contype=0,
        conaffinity=0,
        rgba=(0.6, 0.6, 0.6, 1),
    )
    carriage = rail.add("body", name="carriage")
    carriage.add(
        "joint",
        name="carriage",
        type="slide",
        axis=(0, 0, 1),
        range=(0.0, RAIL_LENGTH),
        limited=True,
        damping=0.5,
        solreflimit=(0.005, 1),  # the rail's foot holds a hanging block (below)
        solimplimit=(0.95, 0.99, 0.001),
    )
    carriage.add("geom", type="sphere", size=(0.01,), mass=0.01, contype=0, conaffinity=0)
    # While active, the block moves only along the rail (it keeps its pose relative to the
    # carriage); at reset the carriage is placed where the block starts.
    # Weld and the carriage's limit stiffer than MuJoCo's default (solref 0.02 s): with no table
    # under it (rail-lift) the block hangs on them, and sagged 4 mm at the default.
    root.equality.add(
        "weld", name="rail", body1="block", body2="carriage", relpose=(0, 0, 0, 1, 0, 0, 0),
        active=False, solref=(0.005, 1), solimp=(0.95, 0.99, 0.001),
    )  # fmt: skip
    goal = world.add("body", name="goal", mocap=True, pos=(0.5, 0.2, BLOCK_HALF))
    goal.add("site", name="goal", type="sphere", size=(GOAL_RADIUS,), rgba=(0.2, 0.8, 0.2, 0.4))
