"""Packaging for sim2real: one distribution, several top-level packages.

Install for development with ``make venv`` (it installs torch first; see the Makefile for why),
or by hand::

    pip install torch==2.13.0        # first: the local CPU wheel, not a multi-GB CUDA build
    pip install -e ".[all,dev]"

A robot computer that only runs the policy node needs ``pip install ".[deploy]"``.
"""

from __future__ import annotations

from glob import glob

from setuptools import find_packages, setup

# Top-level packages at the repository root. They are listed by name (not discovered) so that a
# package still missing its __init__.py while it is being written is installed all the same,
# and so that tests/, bench/ and ros_ws/ are never installed as packages.
TOP_LEVEL = ["hardware", "sim", "policies", "episodes", "calibration", "sim2real", "robots"]

# The ROS 2 package lives in a colcon workspace; pip installs the same Python package from there.
ROS_PACKAGE = "sim2real_ros"
ROS_PACKAGE_DIR = "ros_ws/src/sim2real_ros/sim2real_ros"


def _packages() -> list[str]:
    """All packages to install: the top-level ones and every subpackage with an __init__.py."""
    found = find_packages(include=[f"{top}.*" for top in TOP_LEVEL])
    ros_sub = find_packages(where="ros_ws/src/sim2real_ros", include=[f"{ROS_PACKAGE}.*"])
    return sorted({*TOP_LEVEL, *found, ROS_PACKAGE, *ros_sub})


ROS = [
    # rmw_fastrtps_cpp is not optional: without an RMW implementation rclpy fails to import.
    "ros-kilted-rclpy",
    "ros-kilted-rmw-fastrtps-cpp",
    "ros-kilted-std-msgs",
    "ros-kilted-sensor-msgs",
    "ros-kilted-geometry-msgs",
    "ros-kilted-nav-msgs",
    "ros-kilted-trajectory-msgs",
    "ros-kilted-diagnostic-msgs",
    "ros-kilted-std-srvs",
]
SIM = ["mujoco[sysid]>=4.0", "pybullet==3.2.7", "gymnasium>=1.0", "matplotlib", "imageio", "imageio-ffmpeg", "pillow"]
# torch is pinned to the local CPU wheel; install it before this extra (see the Makefile).
TRAIN = ["torch==2.13.0", "stable-baselines3", "sb3-contrib", "onnx", "tensorboard", "tqdm", "rich"]
# The policy node builds observations with the task code (sim.tasks: Gymnasium spaces) and turns
# end-effector actions into joint targets with MuJoCo's kinematics: both, but no simulator GUI,
# no PyBullet, no torch.
DEPLOY = ["onnxruntime", "gymnasium>=1.0", "mujoco>=4.0", *ROS]
EPISODES = ["rosbags", "mcap"]
# OpenCV 5.0's Python wheel lacks cv2.calibrateHandEye.
CALIBRATION = ["opencv-python-headless<5"]
DEV = ["pytest", "pytest-xdist", "pytest-timeout", "hypothesis", "ruff", "mypy", "types-PyYAML"]

EXTRAS = {
    "sim": SIM,
    "train": TRAIN,
    "ros": ROS,
    "deploy": DEPLOY,
    "episodes": EPISODES,
    "calibration": CALIBRATION,
    "dev": DEV,
}
# `all` is everything a workstation needs; `dev` stays separate (test and lint tools).
EXTRAS["all"] = sorted({req for name, reqs in EXTRAS.items() if name != "dev" for req in reqs})

setup(
    name="sim2real",
    version="0.1.0",
    description="Sim-to-real robot learning: MuJoCo/PyBullet training, ROS 2 deployment, replay",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=_packages(),
    package_dir={ROS_PACKAGE: ROS_PACKAGE_DIR},
    package_data={
        "robots": ["*.urdf", "*.yaml", "*.md", "meshes/**/*", "randomization/*.yaml"],
        ROS_PACKAGE: ["py.typed"],
        "hardware": ["py.typed"],
        "policies": ["configs/*.yaml"],
    },
    # The ROS package's share folder and ament index entry (as colcon installs them), so that
    # $(find-pkg-share sim2real_ros) finds the launch files in a (non-editable) pip install too.
    data_files=[
        ("share/ament_index/resource_index/packages", ["ros_ws/src/sim2real_ros/resource/sim2real_ros"]),
        ("share/sim2real_ros", ["ros_ws/src/sim2real_ros/package.xml"]),
        ("share/sim2real_ros/launch", sorted(glob("launch/*.launch.yaml"))),
    ],
    # Core: what `hardware` needs on a robot computer; everything else is an extra.
    install_requires=["numpy", "PyYAML"],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["sim2real = sim2real.cli:main"]},
    zip_safe=False,
)
