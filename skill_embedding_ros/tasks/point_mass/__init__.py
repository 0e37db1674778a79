"""The point-mass plug-in: a mass on two slide joints, alone (reach) or with a block (push)."""
