"""What is in a bag: topics with type, count and rate, duration, gaps, and episodes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from episodes import topics as T
from episodes.errors import BagFormatError, EpisodeWarning
from episodes.reading import custom_data, mapped_streams, open_bag

# A gap is reported when two consecutive messages of a topic are further apart than this many
# mean periods (a dropped stretch rather than jitter). The mean, not the median: publishers that
# send in bursts (cmd_vel relayed through a bridge) have a tiny median period.
GAP_FACTOR = 3.0


def bag_info(path: Path | str, mapping: T.TopicMapping | None = None, *, check: bool = True) -> dict[str, Any]:
    """Summarise a bag: timing from the log times, episodes from the markers.

    Messages that do not deserialize are counted per topic (``corrupt``) and warned about
    (:class:`~episodes.errors.EpisodeWarning`) naming the topic and the count skipped.

    :param path: a rosbag2 folder (MCAP or sqlite3) or a ROS 1 ``.bag``.
    :param mapping: if given, each topic's stream is reported and every mapped topic must exist.
    :param check: deserialize every message to find corrupt ones (``False``: only the episode
        markers are decoded; faster on big bags).
    :returns: ``{"path", "storage", "custom_data", "start_ns", "duration_s", "message_count",
        "topics": {topic: {"type", "count", "rate_hz", "stream", "max_gap_s", "gaps", "corrupt"}},
        "episodes": [{"index", "start_s", "end_s", "outcome"}]}``; ``rate_hz`` is the mean rate
        (count - 1 over first to last), ``gaps`` lists ``(t_s, gap_s)`` (from the bag start) of each
        gap over ``GAP_FACTOR`` mean periods, times in s.
    :raises BagNotFoundError, BagFormatError, MissingTopicError, UnknownMessageTypeError: see
        :mod:`episodes.errors`.
    """
    path = Path(path)
    with open_bag(path) as reader:
        connections = list(reader.connections)
        types = {c.topic: c.msgtype for c in connections}
        streams = _streams(path, types, mapping)
        times: dict[str, list[int]] = {topic: [] for topic in types}
        markers: list[tuple[int, str]] = []
        corrupt: dict[str, int] = {}
        try:
            for connection, t_ns, raw in reader.messages():
                times[connection.topic].append(int(t_ns))
                if not check and connection.topic != T.EPISODE_TOPIC:
                    continue
                try:
                    msg = reader.deserialize(raw, connection.msgtype)
                except Exception:  # MCAP written by rosbags has no CRC: damage shows up here
                    corrupt[connection.topic] = corrupt.get(connection.topic, 0) + 1
                    continue
                if connection.topic == T.EPISODE_TOPIC and connection.msgtype == T.STRING:
                    markers.append((int(t_ns), str(getattr(msg, "data", ""))))
        except Exception as err:  # rosbags raises many kinds on a damaged file
            read = sum(map(len, times.values()))
            raise BagFormatError(
                f"{path.name} is damaged and cannot be read past {read} messages: {T.one_line(err)}; re-record it"
            ) from err
        custom = custom_data(reader)
        storage = _storage(reader, path)
    all_times = [t for ts in times.values() for t in ts]
    start = min(all_times) if all_times else 0
    end = max(all_times) if all_times else 0
    topics = {
        topic: {
            "type": types[topic],
            "stream": streams.get(topic),
            **_timing(times[topic], start),
            "corrupt": corrupt.get(topic, 0),
        }
        for topic in sorted(types)
    }
    for topic, count in corrupt.items():
        warnings.warn(f"{path.name}: {count} corrupt messages on {topic} skipped", EpisodeWarning, stacklevel=2)
    return {
        "path": str(path),
        "storage": storage,
        "custom_data": custom,
        "start_ns": start,
        "duration_s": (end - start) * 1e-9,
        "message_count": len(all_times),
        "topics": topics,
        "episodes": _episodes(markers, start, end, bool(all_times)),
    }


def format_info(info: dict[str, Any]) -> str:
    """``bag_info``'s result as readable lines."""
    lines = [
        f"{info['path']}: {info['storage']}, {info['message_count']} messages, {info['duration_s']:.2f} s",
    ]
    for key, value in sorted(info["custom_data"].items()):
        lines.append(f"  {key}: {value}")
    lines.append(f"  {'topic':<28}{'type':<34}{'count':>7}{'rate Hz':>9}{'max gap s':>11}  stream")
    for topic, t in info["topics"].items():
        lines.append(
            f"  {topic:<28}{t['type']:<34}{t['count']:>7}{t['rate_hz']:>9.2f}{t['max_gap_s']:>11.3f}"
            f"  {t['stream'] or '-'}{'  CORRUPT ' + str(t['corrupt']) if t['corrupt'] else ''}"
        )
        for at_s, gap_s in t["gaps"][:5]:
            lines.append(f"      gap of {gap_s:.3f} s at {at_s:.2f} s")
        if len(t["gaps"]) > 5:
            lines.append(f"      ... {len(t['gaps']) - 5} more gaps")
    lines.append(f"  episodes: {len(info['episodes'])}")
    for ep in info["episodes"]:
        lines.append(
            f"    {ep['index']}: {ep['start_s']:.2f} .. {ep['end_s']:.2f} s "
            f"({ep['end_s'] - ep['start_s']:.2f} s) {ep['outcome'] or ''}".rstrip()
        )
    return "\n".join(lines)


def _streams(path: Path, types: dict[str, str], mapping: T.TopicMapping | None) -> dict[str, str]:
    """``{topic: stream}``: by message type without a mapping; else the mapping's, all required."""
    if mapping is None:
        known = {t: s for s, accepted in T.STREAM_TYPES.items() for t in accepted}
        return {topic: known[msgtype] for topic, msgtype in types.items() if msgtype in known}
    return mapped_streams(path, types, mapping)


def _timing(times: list[int], start: int) -> dict[str, Any]:
    t = np.sort(np.asarray(times, dtype=np.int64))
    rate = (t.size - 1) / ((t[-1] - t[0]) * 1e-9) if t.size > 1 and t[-1] > t[0] else 0.0
    dt = np.diff(t) * 1e-9
    gaps: list[tuple[float, float]] = []
    if dt.size and rate > 0:
        where = np.flatnonzero(dt > GAP_FACTOR / rate)
        if where.size:
            gaps = [(float((t[i] - start) * 1e-9), float(dt[i])) for i in where]
    return {
        "count": int(t.size),
        "rate_hz": float(rate),
        "max_gap_s": float(dt.max()) if dt.size else 0.0,
        "gaps": gaps,
    }


def _episodes(markers: list[tuple[int, str]], start: int, end: int, any_messages: bool) -> list[dict[str, Any]]:
    if not markers:
        return [{"index": 0, "start_s": 0.0, "end_s": (end - start) * 1e-9, "outcome": None}] if any_messages else []
    episodes: list[dict[str, Any]] = []
    for t_ns, text in markers:
        parsed = T.parse_marker(text)
        if parsed is not None and parsed.episode is not None:  # a start
            s = (t_ns - start) * 1e-9
            episodes.append({"index": parsed.episode, "start_s": s, "end_s": s, "outcome": None})
        elif parsed is not None and episodes:  # an end
            episodes[-1]["end_s"] = (t_ns - start) * 1e-9
            episodes[-1]["outcome"] = parsed.outcome
    return episodes


def _storage(reader: Any, path: Path) -> str:
    if not reader.is2:
        return "rosbag1"
    files = [path] if path.is_file() else sorted(path.iterdir())
    kinds = {".mcap": "mcap", ".db3": "sqlite3"}
    idents = sorted({kinds[f.suffix] for f in files if f.suffix in kinds})
    return f"rosbag2 {'+'.join(idents)}" if idents else "rosbag2"
