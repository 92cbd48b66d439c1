"""The layout of a training run folder: everything ``sim2real train`` writes, in one place.

::

    RUN/config.yaml            the resolved training config (policies.config)
    RUN/model.zip              the final SB3 model (model.save; trusted, ours: loading it unpickles)
    RUN/vecnormalize.pkl       VecNormalize statistics (only when env.normalize is set)
    RUN/checkpoints/           model_<steps>_steps.zip, model_vecnormalize_<steps>_steps.pkl,
                               model_replay_buffer_<steps>_steps.pkl, curiosity_<steps>_steps.pt
    RUN/monitor/               Monitor CSV of the training episodes
    RUN/tb/                    TensorBoard logs
    RUN/eval/evaluations.npz   EvalCallback results (timesteps, results, ep_lengths, successes)
    RUN/metrics.yaml           exploration metrics and final evaluation (policies.metrics)
    RUN/learning_curve.png     evaluation return and success over training
    RUN/eval.mp4               the final policy, deterministic
    RUN/bundle/                the deployable bundle (sim2real export RUN)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFolder:
    """Paths inside one training run folder.

    :param root: the run folder.
    """

    root: Path

    @classmethod
    def at(cls, path: str | Path) -> RunFolder:
        return cls(Path(path))

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def model(self) -> Path:
        return self.root / "model.zip"

    @property
    def vecnormalize(self) -> Path:
        return self.root / "vecnormalize.pkl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    @property
    def evaluations(self) -> Path:
        return self.eval_dir / "evaluations.npz"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.yaml"

    @property
    def learning_curve(self) -> Path:
        return self.root / "learning_curve.png"

    @property
    def video(self) -> Path:
        return self.root / "eval.mp4"

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    def is_run(self) -> bool:
        """True when the folder holds a finished training run (config and model)."""
        return self.config.is_file() and self.model.is_file()
