"""priority.lower_process (the learner's `niceness`) lowers every thread of the process, not
only the calling one (on Linux a nice value is a thread's): run in a child process, since it
cannot be undone."""

import subprocess
import sys

import pytest

CHILD = """
import os, threading, time
from skill_embedding_ros.priority import lower_process
started = threading.Event()
worker = threading.Thread(target=lambda: (started.set(), time.sleep(2)), daemon=True)
worker.start()
started.wait()
before = os.getpriority(os.PRIO_PROCESS, 0)
lower_process(7)
nice = [int(open(f"/proc/self/task/{t}/stat").read().rsplit(")", 1)[1].split()[16])
        for t in os.listdir("/proc/self/task")]
print(before, len(nice), *nice)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_every_thread_is_lowered():
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True
    )
    before, count, *nice = map(int, out.stdout.split())
    assert count >= 2 and nice == [min(19, before + 7)] * count, out.stdout
