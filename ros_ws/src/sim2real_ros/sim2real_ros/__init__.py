"""sim2real's ROS 2 package: the ROS implementation of ``hardware.Robot``, the nodes, and a runner
for ROS 2 YAML launch files.

- :mod:`~sim2real_ros.ros2_robot`: ``Ros2Robot``, a robot driven over its driver's topics.
- :mod:`~sim2real_ros.policy_node`: a policy bundle on a robot (lifecycle node, safety layer,
  watchdog, e-stop, diagnostics).
- :mod:`~sim2real_ros.sim_node`: MuJoCo or PyBullet speaking a real driver's topics.
- :mod:`~sim2real_ros.launch_file`, :mod:`~sim2real_ros.launch_runner`: ``sim2real launch``.
- :mod:`~sim2real_ros.conversions`, :mod:`~sim2real_ros.qos`: messages and QoS shared by all.

Importing the package imports no ROS module; the node modules need rclpy (the ``ros`` extra).
"""
