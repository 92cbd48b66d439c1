"""sim2real: train robot policies in simulation, deploy them as ROS 2 nodes, replay and calibrate.

The command line lives in :mod:`sim2real.cli` (``sim2real --help``); this package wires the
other top-level packages (hardware, sim, policies, episodes, calibration) together.
"""

__version__ = "0.1.0"
