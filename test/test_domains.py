"""Each graph gets a ROS domain no other graph on this host uses: two on one domain would talk
to each other (a test run beside a soak, chaos or another test run corrupts both)."""

import socket
import subprocess
import sys

from skill_embedding_ros.ros.processes import DOMAINS, fresh_domain

HOLD = (
    "from skill_embedding_ros.ros.processes import fresh_domain\n"
    "import sys\n"
    "print(fresh_domain(), flush=True)\n"
    "sys.stdin.read()\n"  # hold it until the test closes stdin
)


def test_a_domain_another_process_holds_is_never_handed_out():
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        theirs = int(child.stdout.readline())
        mine = [fresh_domain() for _ in range(2 * len(DOMAINS))]
    finally:
        child.stdin.close()
        child.wait(10)
    assert theirs in DOMAINS and theirs not in mine
    assert set(mine) < set(DOMAINS)


def test_a_domain_whose_participant_port_is_taken_is_skipped():
    # A graph this project did not start (ros2 launch, say) holds no lock, only DDS ports.
    taken = fresh_domain()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 7410 + 250 * taken))
        later = [fresh_domain() for _ in range(2 * len(DOMAINS))]
    assert taken not in later
