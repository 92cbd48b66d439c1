"""sim2real's ROS 2 package: the ROS implementation of ``hardware.Robot`` and the nodes.

The nodes (policy, sim, recorder, player) are thin lifecycle wrappers around the library
packages; none exist yet.
"""
