"""DDS security for the graph: the per-node permissions table (permissions.py), the SROS2
keystore made from it (keystore.py) and the measurement of whether this machine's Fast DDS can
enforce it (probe.py); docs/security.md says what holds where.

Nothing here imports ROS, and `cryptography` is imported only when a keystore is generated, so
the package installs and runs without it.
"""
