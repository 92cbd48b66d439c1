"""colcon build of the sim2real_ros ament_python package (``colcon build`` in ros_ws/).

pip users do not need this file: the repository's own setup.py installs the same Python
package together with the rest of sim2real.
"""

from glob import glob

from setuptools import setup

PACKAGE = "sim2real_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        # ament's package index: how `ros2 pkg` and launch find this package.
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        # launch -> ../../../launch: the repository's launch files, for `ros2 launch sim2real_ros ...`.
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.yaml"))),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="sim2real maintainers",
    maintainer_email="sim2real@example.com",
    description="sim2real on ROS 2: the ROS Robot implementation and the policy, sim, recorder and player nodes",
    license="Apache-2.0",
    # The nodes, where `ros2 run sim2real_ros NODE` (and `sim2real launch`) find them.
    entry_points={
        "console_scripts": [
            "player_node = sim2real_ros.player_node:main",
            "policy_node = sim2real_ros.policy_node:main",
            "sim_node = sim2real_ros.sim_node:main",
            "recorder_node = sim2real_ros.recorder_node:main",
        ]
    },
)
