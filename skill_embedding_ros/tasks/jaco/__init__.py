"""The Jaco plug-in: dm_control's Kinova Jaco arm with its 3-finger hand on a table, a block and a
goal marker (model.py composes the MJCF, scene.py simulates it, observations.py builds the
paper's 34-D observation, suites.py defines the tasks). docs/jaco.md describes it."""
