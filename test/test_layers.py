"""Everything but ros/ stays ROS-free: importing it loads no ROS module."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
ROS_MODULES = {
    "rclpy",
    "std_msgs",
    "sensor_msgs",
    "geometry_msgs",
    "trajectory_msgs",
    "rosgraph_msgs",
    "diagnostic_msgs",
    "lifecycle_msgs",
    "std_srvs",
    "visualization_msgs",
    "builtin_interfaces",
    "launch",
    "launch_ros",
}


def test_only_ros_imports_ros():
    offenders = []
    package = ROOT / "skill_embedding_ros"
    for path in package.rglob("*.py"):
        if path.relative_to(package).parts[0] == "ros":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ROS_MODULES]
    assert not offenders, offenders


def test_importing_the_core_loads_no_ros_module_at_run_time():
    code = (
        "import sys, skill_embedding_ros.training.trainer, skill_embedding_ros.training.evaluate, "
        "skill_embedding_ros.data.bags.ingest, skill_embedding_ros.launch.launcher; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(ROS_MODULES)}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_nothing_is_unpickled():
    hits = []
    for path in (ROOT / "skill_embedding_ros").rglob("*.py"):
        text = path.read_text()
        if "pickle.load" in text or ("torch.load(" in text and "weights_only=True" not in text):
            hits.append(path.name)
    assert not hits, hits
