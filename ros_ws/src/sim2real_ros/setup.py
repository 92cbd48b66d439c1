"""colcon build of the sim2real_ros ament_python package (``colcon build`` in ros_ws/).

pip users do not need this file: the repository's own setup.py installs the same Python
package together with the rest of sim2real.
"""

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
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="sim2real maintainers",
    maintainer_email="sim2real@example.com",
    description="sim2real on ROS 2: the ROS Robot implementation and the policy, sim, recorder and player nodes",
    license="Apache-2.0",
    # Node executables (policy, sim, recorder, player) are added here as they are written.
    entry_points={"console_scripts": []},
)
