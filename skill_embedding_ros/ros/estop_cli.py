"""`skill-embedding estop latch|release --namespace arm`: the safety gate's e-stop from a shell,
for machines without the `ros2` CLI (pip installs). On a ROS 2 install the same is
`ros2 service call /arm/estop std_srvs/srv/SetBool "{data: false}"`.

rclpy is imported only when the command runs, so the CLI itself stays ROS-free.
"""

from __future__ import annotations

import argparse

from skill_embedding_ros.topic_names import ESTOP


def add_subcommand(sub) -> None:
    parser = sub.add_parser(
        "estop",
        help="latch or release a safety gate's e-stop (its `estop` service; docs/hardware.md)",
    )
    parser.add_argument("action", choices=["latch", "release"])
    parser.add_argument(
        "--namespace", default="arm", help="the gate's namespace (arm, actor_0, ...)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="s to wait for the gate")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import rclpy
    from std_srvs.srv import SetBool

    service = f"/{args.namespace.strip('/')}/{ESTOP}".replace("//", "/")
    rclpy.init()
    node = rclpy.create_node("estop_cli")
    try:
        client = node.create_client(SetBool, service)
        if not client.wait_for_service(timeout_sec=args.timeout):
            print(
                f"error: no e-stop service {service} after {args.timeout:g} s: is the safety gate "
                "running, on this ROS_DOMAIN_ID, and in that namespace (--namespace)?"
            )
            return 1
        future = client.call_async(SetBool.Request(data=args.action == "latch"))
        rclpy.spin_until_future_complete(node, future, timeout_sec=args.timeout)
        reply = future.result()
        if reply is None:
            print(f"error: {service} did not answer within {args.timeout:g} s")
            return 1
        print(f"{service}: {reply.message}")
        return 0 if reply.success else 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
