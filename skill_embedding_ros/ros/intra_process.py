"""Messages between the nodes of one process handed over as Python objects, without DDS, where
no one outside the process listens: rclcpp's intra-process communication, which rclpy lacks,
for the nodes an actor container composes (ros/container.py).

A publisher whose topic has a subscription in the same process (same name, same type, a volatile
QoS that DDS would match) gets a `publish` that puts the message into each such subscription's
inbox and asks the executor to run the subscription's callback on it (`executor.create_task`), as
DDS would have. When the topic has more matched subscriptions than the process holds (a recorder,
`ros2 topic echo`, a trial manager in another process), the message goes by DDS to all of them
instead, local ones included: every subscriber gets each message once, by one way.

What changes for a node: a local subscriber gets the publisher's own message object (it must
not change it; every node here builds a fresh message per publication), nothing is serialized
(a field DDS could not carry is not caught by the conversion), and an inbox keeps the newest
`depth` messages as the subscription's KEEP_LAST history would. Counting matched subscriptions
is DDS's view, recounted at most every RECOUNT_S: in the first milliseconds, before the
process's own subscriptions have matched, an outside one may miss a message, and one that
matched misses up to RECOUNT_S of messages (as any late joiner does; one that left gets them by
DDS as long, local ones too); a message published just as an outside subscriber joins or leaves
may overtake one still in an inbox (one message is in flight at a time in lockstep). Latched
(transient-local) topics always go by DDS: a late local subscriber must still get the last
message; so does a message published as serialized bytes.
The routes are made once, from the publishers and subscriptions the nodes made when built (a
later one goes by DDS; a later local subscriber counts as an outside one, so its topic's
messages then go by DDS to all, as above); a node that destroyed a routed subscription would
still get its messages (the composable nodes destroy none).

Why: in a composed actor each of a lockstep step's hops (state to policy and gate, command to
gate, command to bridge, executed to policy) paid rclpy's conversion to C, Fast DDS's write,
take and conversion back (docs/speed.md).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque

from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy

RECOUNT_S = 0.01
"""How long a publisher's count of matched subscriptions is taken as current (s). Counting asks
DDS under its locks, a few µs a message on a loaded 2-core machine, 2.6 % of a composed actor's
time when counted at every publish (`benchmarks/profile_actor.py`)."""


class IntraProcess:
    """Routes the local topics of `nodes`, spun by `executor`. A callback's exception is kept
    in `failure` (rclpy's EventsExecutor crashes on an exception from a task) for the spin
    loop to raise (`raise_failure`)."""

    def __init__(self, nodes, executor) -> None:
        self.failure: BaseException | None = None
        self.topics: list[str] = []
        inboxes: dict[tuple, list[_Inbox]] = defaultdict(list)
        for node in nodes:
            for sub in node.subscriptions:
                if not sub.raw and _volatile(sub.qos_profile):
                    inboxes[(sub.topic_name, sub.msg_type)].append(_Inbox(sub, executor, self))
        for node in nodes:
            for pub in node.publishers:
                if not _volatile(pub.qos_profile):
                    continue
                local = [
                    inbox
                    for inbox in inboxes.get((pub.topic_name, pub.msg_type), ())
                    if _matches(pub.qos_profile, inbox.qos)
                ]
                if local:
                    pub.publish = _publish(pub, local)
                    self.topics.append(pub.topic_name)

    def raise_failure(self) -> None:
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure


def _volatile(qos) -> bool:
    return qos.durability == DurabilityPolicy.VOLATILE and qos.history == HistoryPolicy.KEEP_LAST


def _matches(pub_qos, sub_qos) -> bool:
    """Whether DDS would connect them: a reliable subscription takes no best-effort writer."""
    return not (
        sub_qos.reliability == ReliabilityPolicy.RELIABLE
        and pub_qos.reliability == ReliabilityPolicy.BEST_EFFORT
    )


def _publish(pub, inboxes: list[_Inbox]):
    by_dds, msg_type, local = pub.publish, pub.msg_type, len(inboxes)
    outside, counted_at = False, -math.inf

    def publish(msg) -> None:
        nonlocal outside, counted_at
        if isinstance(msg, bytes):  # serialized already: the subscribers take it from DDS
            by_dds(msg)
            return
        if not isinstance(msg, msg_type):  # as rclpy's publish
            raise TypeError(f"Expected {msg_type}, got {type(msg)}")
        now = time.monotonic()
        if now - counted_at >= RECOUNT_S:
            outside, counted_at = pub.get_subscription_count() > local, now
        if outside:
            by_dds(msg)
        else:
            for inbox in inboxes:
                inbox.put(msg)

    return publish


class _Inbox:
    """A subscription's history of messages from local publishers."""

    def __init__(self, sub, executor, router: IntraProcess) -> None:
        self.qos = sub.qos_profile
        self.messages: deque = deque(maxlen=max(1, self.qos.depth))
        self.callback, self.executor, self.router = sub.callback, executor, router
        self.scheduled = False

    def put(self, msg) -> None:
        self.messages.append(msg)
        if not self.scheduled:
            self.scheduled = True
            self.executor.create_task(self.deliver)

    def deliver(self) -> None:
        """One message per executor turn, so other events (an e-stop, a timer) interleave."""
        msg = self.messages.popleft()
        if self.messages:
            self.executor.create_task(self.deliver)
        else:
            self.scheduled = False
        try:
            self.callback(msg)
        except BaseException as err:  # the spin loop raises it (raise_failure)
            if self.router.failure is None:
                self.router.failure = err
