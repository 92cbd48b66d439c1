"""Episodes: rosbag2 (MCAP) recording and reading, replay (sim, ROS, policy), datasets, divergence.

- :class:`~episodes.recording.EpisodeRecorder` writes a run (states, commands, policy streams,
  episode markers, run metadata) to a rosbag2 MCAP bag with ``rosbags``; no ROS install needed.
- :func:`~episodes.reading.read_episodes` reads rosbag2 (MCAP, sqlite3) and ROS 1 bags as
  :class:`~episodes.episode.Episode` streams of a robot spec, through a
  :class:`~episodes.topics.TopicMapping` for bags we did not write.
- :func:`~episodes.info.bag_info` summarises a bag (``sim2real episodes info``).

Submodules are imported on use (``from episodes.reading import read_episodes``) so that importing
the package stays cheap.
"""
