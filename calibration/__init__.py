"""Calibration: system identification from episodes, camera intrinsics, hand-eye; writes calibration YAML."""
