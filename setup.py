"""ament_python package `skill_embedding_ros` (also pip-installable: `pip install -e .`).

rclpy and the message packages are deliberately not in install_requires: a ROS 2 install
provides them, and where ROS 2 is pip-installed, requirements.txt lists its wheels.
"""

import runpy
from glob import glob

from setuptools import find_packages, setup

package_name = "skill_embedding_ros"
EXECUTABLES = runpy.run_path(f"{package_name}/ros/executables.py")
NODES = {**EXECUTABLES["NODES"], **EXECUTABLES["CONTAINER"]}

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        (f"share/{package_name}/config", glob("config/*.yaml")),
        (f"share/{package_name}/config/graphs", glob("config/graphs/*.yaml")),
        (f"share/{package_name}/config/paper", glob("config/paper/*.yaml")),
        (f"share/{package_name}/config/robots", glob("config/robots/*.yaml")),
        (f"share/{package_name}/config/teleop", glob("config/teleop/*.yaml")),
        (f"share/{package_name}/config/transfer", glob("config/transfer/*.yaml")),
        (f"share/{package_name}/urdf", glob("urdf/*")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "numpy",
        "torch",
        "mujoco>=3.1",
        "dm-control",
        "transforms3d",
        "gymnasium>=1.0",
        "pyyaml",
        "safetensors",
        "rosbags",
        "tqdm",
        "tensorboard",
        "matplotlib",
    ],
    zip_safe=True,
    maintainer="skill_embedding_ros developers",
    maintainer_email="dev@skill-embedding-ros.invalid",
    description="Skill embedding spaces (Hausman et al. 2018) trained off-policy through ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "skill-embedding = skill_embedding_ros.cli:main",
            *(f"{name} = {target}" for name, target in NODES.items()),
        ],
    },
)
