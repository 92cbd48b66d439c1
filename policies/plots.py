"""The learning-curve picture of a training run (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_learning_curve(
    evaluations: Path, out: Path, *, title: str = "", training: dict[str, np.ndarray] | None = None
) -> Path:
    """Plot evaluation return (mean ± std over the evaluation episodes) and, where the task
    reports it, success rate against environment steps.

    :param evaluations: SB3 EvalCallback's ``evaluations.npz`` (``timesteps``, ``results``,
        optional ``successes``); a missing file plots only ``training``.
    :param out: the PNG to write.
    :param title: figure title (the run's name).
    :param training: optional training-episode curves, ``{"timesteps": ..., "return": ...}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = np.load(evaluations) if evaluations.is_file() else None
    has_success = data is not None and "successes" in data.files and np.size(data["successes"]) > 0
    figure, axes = plt.subplots(1, 2 if has_success else 1, figsize=(11 if has_success else 6, 4), squeeze=False)
    ax = axes[0, 0]
    if training is not None and len(training.get("timesteps", ())):
        ax.plot(training["timesteps"], training["return"], color="0.75", lw=0.8, label="training episodes")
    if data is not None and len(data["timesteps"]):
        steps, results = data["timesteps"], data["results"]
        mean, std = results.mean(axis=1), results.std(axis=1)
        ax.plot(steps, mean, marker="o", color="C0", label="evaluation (deterministic)")
        ax.fill_between(steps, mean - std, mean + std, color="C0", alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right")
    if has_success:
        assert data is not None
        success = axes[0, 1]
        success.plot(data["timesteps"], 100 * data["successes"].mean(axis=1), marker="o", color="C2")
        success.set_ylim(-5, 105)
        success.set_xlabel("environment steps")
        success.set_ylabel("evaluation success, %")
        success.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out
