"""Scenes and task suites: the interfaces (suite.py), the registry of plug-ins (registry.py), any
suite as a Gymnasium env (env.py), and the point-mass plug-in (point_mass/)."""
