"""Running a node: init, spin until Ctrl-C or the node finishes, shut down in the order rclpy
needs (executor down and joined before rclpy.shutdown, or the process aborts).

A node that will not stop can be asked where it is: SIGUSR1 writes every thread's Python stack
to its stderr (the launcher does this before it kills one)."""

from __future__ import annotations

import faulthandler
import math
import os
import signal
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from skill_embedding_ros.ros.intra_process import IntraProcess
from skill_embedding_ros.stop_request import SIGNALS, StopRequest

EXECUTOR_ENV = "SKILL_EMBEDDING_EXECUTOR"
"""`single` or `events`: every node on that executor, whatever it asks for (`new_executor`;
for measurements: a recorder fails on `events`)."""

INTRA_PROCESS_ENV = "SKILL_EMBEDDING_INTRA_PROCESS"
"""`0`: the nodes of one process talk by DDS only, not intra-process (ros/intra_process.py); for
comparisons."""

LEAVE_TIMEOUT_S = 5.0
"""How long a closed node may take to leave DDS (destroy, shut down, exit: normally well under a
second). Past it the process writes its stacks to stderr and, STACKS_S later, the kernel ends it
by SIGALRM (launch/graph_exit.py LEFT_HUNG: its work was done, the launcher says so and counts
it clean); a run that was failing anyway exits 1 there. A CI run once saw a gate that had
stopped its work never exit, and the launcher killed it 15 s later without a clue where it
was."""

STACKS_S = 0.5
"""Time the stacks get to be written before the process is ended."""

OK_EVERY_S = 0.05
"""How often the spin loop asks whether the context is still up (s)."""


def new_executor(events: bool = True, context=None):
    """The executor a node process spins: rclpy's EventsExecutor where this rclpy has one
    (Kilted on: it keeps no wait set and runs its loop in C++), else SingleThreadedExecutor,
    which also serves `events=False` (a node with `single_threaded_executor = True`: the
    recorders, whose message-info callbacks the EventsExecutor fails on, and a real-time safety
    gate, which must answer an e-stop while flooded; docs/launching.md, "The executor").
    SKILL_EMBEDDING_EXECUTOR=single|events overrides both, for comparisons."""
    forced = os.environ.get(EXECUTOR_ENV, "")
    if forced not in ("", "single", "events"):
        raise SystemExit(f"{EXECUTOR_ENV} must be single or events (or unset), got {forced!r}")
    if forced:  # for a comparison; `events` also for the nodes that ask for single
        events = forced == "events"
    if events:
        try:
            from rclpy.experimental import EventsExecutor
        except ImportError:  # Humble, Jazzy
            pass
        else:
            return EventsExecutor(context=context)
    return SingleThreadedExecutor(context=context)


def intra_process(nodes, executor) -> IntraProcess | None:
    """Several nodes in one process hand each other messages intra-process, unless
    SKILL_EMBEDDING_INTRA_PROCESS=0; the topics it routes are logged."""
    setting = os.environ.get(INTRA_PROCESS_ENV, "1")
    if setting not in ("0", "1"):
        raise SystemExit(f"{INTRA_PROCESS_ENV} must be 0 or 1 (or unset), got {setting!r}")
    if len(nodes) < 2 or setting == "0":
        return None
    router = IntraProcess(nodes, executor)
    rclpy.logging.get_logger("actor_container").info(
        f"intra-process (no DDS while no other process subscribes): {', '.join(router.topics)}"
    )
    return router


def spin(node_factory, args=None) -> int:
    """Build the node with `node_factory()` and spin it; returns the process exit code.

    A node ends its own run by setting `node.exit_code` (an int); the loop then stops. A node
    with a `close()` method gets it called before it is destroyed (flush files, stop motion).
    Ctrl-C (SIGINT) or SIGTERM stops it cleanly: exit code 0.
    """
    return spin_nodes([node_factory], args)


def spin_nodes(node_factories, args=None) -> int:
    """`spin` for several nodes in one process (ros/container.py): built in order into one
    context and one executor; the first node to set `exit_code` ends them all with its code,
    and they close in reverse order (a policy before the gate before the bridge)."""
    # rclpy's own SIGINT handler shuts the context down at once: a timer callback then running
    # fails to publish (an exit 1 on every Ctrl-C, at random) and `close()` could no longer send
    # a last stop. Here the signals only ask the loop to stop (StopRequest), and the node closes
    # before the context goes.
    # Installed explicitly: a process started in the background by a non-interactive shell
    # inherits SIGINT ignored, and Ctrl-C from its launcher would then do nothing.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stop = StopRequest()
    for signum in SIGNALS:
        signal.signal(signum, stop)
    rclpy.init(
        args=args if args is not None else sys.argv,
        signal_handler_options=SignalHandlerOptions.NO,
    )
    nodes: list = []
    executor = None

    def finished() -> int | None:
        codes = (getattr(n, "exit_code", None) for n in nodes)
        return next((c for c in codes if c is not None), None)

    code = 0
    try:
        for factory in node_factories:
            nodes.append(factory())
        # Chosen once the nodes are built: a node asks by how it was configured (the gate).
        single = any(getattr(n, "single_threaded_executor", False) for n in nodes)
        executor = new_executor(events=not single)
        for node in nodes:
            executor.add_node(node)
        router = intra_process(nodes, executor)
        ok_at = -math.inf
        while not stop.requested and finished() is None:
            # rclpy.ok() takes two locks: asked every callback, a few % of a busy process's time.
            if time.monotonic() - ok_at >= OK_EVERY_S:
                if not rclpy.ok():
                    break
                ok_at = time.monotonic()
            executor.spin_once(timeout_sec=0.1)
            if router is not None:
                router.raise_failure()
        code = finished() or 0
    except (KeyboardInterrupt, ExternalShutdownException):
        code = 0
    except RuntimeError:
        # A second signal while rclpy converts a message surfaces as this; only then is it a
        # stop (any other RuntimeError is a bug that must show).
        if not stop.requested:
            raise
        code = 0
    except SystemExit as err:  # a configuration error, already phrased for the user
        if isinstance(err.code, str):
            print(err.code, file=sys.stderr)
        code = 2 if isinstance(err.code, str) else int(err.code or 0)
    finally:
        for node in reversed(nodes):
            close = getattr(node, "close", None)
            if close is not None:
                close()
        # Armed until the process is gone: it also covers the DDS participant's deletion, which
        # happens when the interpreter exits. Neither needs the GIL a hung C call may hold: the
        # stacks come from faulthandler's C thread, the end from SIGALRM's default action. Only
        # a run that ended well ends as LEFT_HUNG; a failing one (an exit code, an exception on
        # its way out) still exits 1, so a hang cannot turn a failure into a clean exit.
        ended_well = code == 0 and sys.exc_info()[0] is None
        faulthandler.dump_traceback_later(LEAVE_TIMEOUT_S, exit=not ended_well)
        if ended_well:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.setitimer(signal.ITIMER_REAL, LEAVE_TIMEOUT_S + STACKS_S)
        # The executor goes first (rclpy's own order): destroying a node while the
        # EventsExecutor may still deliver one of its events (peers leaving match events) once
        # hung in the event handler's __exit__ until the watchdog (a CI run at 6b6995d).
        if executor is not None:
            executor.shutdown()
        for node in reversed(nodes):
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    return code
