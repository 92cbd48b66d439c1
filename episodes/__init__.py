"""Episodes: rosbag2 (MCAP) recording and reading, replay (sim, ROS, policy), datasets, divergence."""
