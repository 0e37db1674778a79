"""What one intra-process delivery costs as an rclpy task (as ros/intra_process.py does it)
against a delivery driven from the spin loop, which must call the EventsExecutor's
`spin_once(timeout_sec=0)` once per delivery to keep timers and DDS callbacks running.

    python benchmarks/not_adopted/delivery_per_message.py

Prints the three figures side by side; docs/speed.md ("Measured and not adopted") quotes them.
"""

import collections
import time

import rclpy
from rclpy.experimental import EventsExecutor

N = 20_000


def task_chain(executor: EventsExecutor) -> float:
    """Each delivery creates the next as a task, the way `_Inbox.deliver` is scheduled."""
    left = N

    def deliver():
        nonlocal left
        left -= 1
        if left:
            executor.create_task(deliver)

    executor.create_task(deliver)
    start = time.perf_counter()
    while left:
        executor.spin_once(timeout_sec=0.1)
    return (time.perf_counter() - start) / N


def idle_spin_once(executor: EventsExecutor) -> float:
    start = time.perf_counter()
    for _ in range(N):
        executor.spin_once(timeout_sec=0)
    return (time.perf_counter() - start) / N


def loop_driven(executor: EventsExecutor) -> float:
    """Deliveries from a Python queue, the executor given its turn after each."""
    queue = collections.deque([None] * N)
    start = time.perf_counter()
    while queue:
        queue.popleft()
        executor.spin_once(timeout_sec=0)
    return (time.perf_counter() - start) / N


def main() -> None:
    rclpy.init()
    try:
        executor = EventsExecutor()
        executor.add_node(rclpy.create_node("delivery_per_message"))
        for name, measure in (
            ("as an rclpy task", task_chain),
            ("spin_once(0) with nothing ready", idle_spin_once),
            ("loop-driven, spin_once(0) each", loop_driven),
        ):
            print(f"{name:34s} {measure(executor) * 1e6:7.1f} us per delivery")
    finally:
        rclpy.shutdown()


if __name__ == "__main__":
    main()
