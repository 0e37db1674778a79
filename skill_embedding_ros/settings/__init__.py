"""Validated settings: the run config (settings/run.py) and each node's parameters
(settings/nodes.py), on the machinery of settings/base.py."""
