"""Training configuration: one YAML file per experiment, in the style of RL Baselines3 Zoo.

A config names the algorithm, the environment (a :mod:`sim.tasks` task and its settings), the
SB3 hyperparameters, the exploration (gSDE, curiosity), HER, the budget and the seed::

    algorithm: SAC                  # SAC | TQC | PPO
    env:
      task: ArmReach                # a sim.tasks name: sim2real/ArmReach-v0
      kwargs: {reward_type: sparse} # SimEnv / task settings (backend, robot, randomization, ...)
      n_envs: 1
      normalize: {norm_obs: true, norm_reward: false}   # VecNormalize; false for none
    hyperparams: {learning_rate: 0.001, batch_size: 256, policy_kwargs: {net_arch: [256, 256]}}
    exploration:
      gsde: {use_sde: true, sde_sample_freq: -1, log_std_init: -2.0}
      curiosity: null               # or {method: rnd, bonus: global, weight: 0.1}
    her: {n_sampled_goal: 4, goal_selection_strategy: future}   # goal tasks only; null for none
    budget: {total_timesteps: 30000}
    seed: 0

Every key is checked when the file is read; an unknown or misplaced key is an error naming the
file and the key, so a typo never trains silently with a default. The resolved config (all
defaults filled in) is written into the run folder as ``config.yaml``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: The algorithms a config may name.
ALGORITHMS = ("SAC", "TQC", "PPO")
#: Off-policy algorithms (replay buffer: HER, per-batch curiosity bonus).
OFF_POLICY = ("SAC", "TQC")
#: Where the shipped configs live.
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A training config that cannot be used; the message names the file, the key and the fix."""


@dataclass
class GsdeConfig:
    """Generalized State-Dependent Exploration (Raffin et al. 2022), SB3's ``use_sde`` family.

    :param use_sde: explore with gSDE instead of independent Gaussian noise per step.
    :param sde_sample_freq: draw a new noise matrix every this many environment steps; -1 draws
        one per episode for SAC/TQC (see :mod:`policies.gsde`) and one per rollout for PPO.
    :param log_std_init: initial log standard deviation of the noise weights.
    :param use_sde_at_warmup: explore with gSDE (not uniform actions) before ``learning_starts``.
    :param full_std: one std per (feature, action) pair rather than per feature.
    :param use_expln: ``expln`` instead of ``exp`` to keep the std positive (stabler for long runs).
    :param hold_noise: SAC/TQC only: keep the noise matrix across collection calls and gradient
        steps (SB3 draws a new one at every ``collect_rollouts``, which with ``train_freq=1`` is
        every step, so without this gSDE is not smooth at all).
    """

    use_sde: bool = False
    sde_sample_freq: int = -1
    log_std_init: float = -3.0
    use_sde_at_warmup: bool = True
    full_std: bool = True
    use_expln: bool = False
    hold_noise: bool = True


@dataclass
class CuriosityConfig:
    """Intrinsic reward for exploration (see :mod:`policies.curiosity`).

    :param method: ``"rnd"`` (random network distillation) or ``"icm"`` (intrinsic curiosity module).
    :param bonus: ``"global"`` (novelty over all training), ``"episodic"`` (novelty within the
        episode) or ``"combined"`` (episodic x global).
    :param weight: intrinsic reward weight added to the extrinsic reward (after normalization).
    :param keys: for ``Dict`` observations, the keys the bonus sees (``None``: every key but
        ``desired_goal``, which HER relabels).
    :param indices: the elements of the (flattened) observation the bonus sees (``None``: all),
        e.g. to leave out velocities, whose novelty a policy can make by itself.
    :param learning_rate: of the curiosity networks.
    :param embedding_dim: size of the RND target output / ICM feature embedding.
    :param hidden_size: width of the curiosity networks' hidden layers.
    :param gamma: discount of the intrinsic return whose running std normalizes the bonus.
    :param episodic_hash_bits: SimHash bits that discretize states for the episodic counts.
    :param updates_per_rollout: PPO only: epochs over each rollout for the curiosity networks.
    """

    method: str = "rnd"
    bonus: str = "global"
    weight: float = 0.1
    keys: list[str] | None = None
    indices: list[int] | None = None
    learning_rate: float = 1e-4
    embedding_dim: int = 64
    hidden_size: int = 128
    gamma: float = 0.99
    episodic_hash_bits: int = 16
    updates_per_rollout: int = 4


@dataclass
class EnvConfig:
    """The training environment.

    :param task: a :data:`sim.tasks.TASKS` name (the env is ``sim2real/<task>-v0``).
    :param kwargs: settings for :class:`sim.envs.SimEnv` and the task (``backend``, ``robot``,
        ``randomization``, ``reward_type``, ...).
    :param n_envs: parallel environments.
    :param vec_env: ``"dummy"`` (in process) or ``"subproc"`` (one process per environment).
    :param normalize: ``VecNormalize`` settings (``norm_obs``, ``norm_reward``, ``clip_obs``,
        ``gamma``), or ``None`` for none. The statistics are saved with every checkpoint and
        folded into the exported bundle.
    :param max_episode_steps: episode length in policy steps (``None``: the task's default).
    """

    task: str = "ArmReach"
    kwargs: dict[str, Any] = field(default_factory=dict)
    n_envs: int = 1
    vec_env: str = "dummy"
    normalize: dict[str, Any] | None = None
    max_episode_steps: int | None = None


@dataclass
class EvalConfig:
    """Evaluation during training.

    :param freq: evaluate every this many environment steps (total over all envs); 0 = never.
    :param episodes: episodes per evaluation (deterministic actions).
    :param video: record an evaluation video of the final policy into the run folder.
    :param video_episodes: episodes in that video.
    """

    freq: int = 5000
    episodes: int = 10
    video: bool = True
    video_episodes: int = 2


@dataclass
class CheckpointConfig:
    """Checkpoints in ``RUN/checkpoints`` (model, normalization statistics and, for off-policy
    learners when asked, the replay buffer, so that ``--resume`` continues the same run).

    :param freq: every this many environment steps (total over all envs); 0 = only at the end.
    :param replay_buffer: also save the replay buffer (large for long runs).
    """

    freq: int = 10000
    replay_buffer: bool = True


@dataclass
class TrainConfig:
    """A whole training experiment (see the module docstring for the YAML)."""

    algorithm: str = "SAC"
    env: EnvConfig = field(default_factory=EnvConfig)
    policy: str | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)
    gsde: GsdeConfig = field(default_factory=GsdeConfig)
    curiosity: CuriosityConfig | None = None
    her: dict[str, Any] | None = None
    total_timesteps: int = 10000
    seed: int = 0
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    name: str = ""
    source: str = ""

    @property
    def env_id(self) -> str:
        """The Gymnasium id of the environment."""
        return f"sim2real/{self.env.task}-v0"

    @property
    def off_policy(self) -> bool:
        return self.algorithm in OFF_POLICY

    def to_dict(self) -> dict[str, Any]:
        """The config in the YAML layout (what :func:`config_from_dict` reads)."""
        return {
            "name": self.name,
            "algorithm": self.algorithm,
            "env": asdict(self.env),
            "policy": self.policy,
            "hyperparams": copy.deepcopy(self.hyperparams),
            "exploration": {
                "gsde": asdict(self.gsde),
                "curiosity": None if self.curiosity is None else asdict(self.curiosity),
            },
            "her": copy.deepcopy(self.her),
            "budget": {"total_timesteps": self.total_timesteps},
            "seed": self.seed,
            "eval": asdict(self.eval),
            "checkpoint": asdict(self.checkpoint),
        }


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read a training config from ``path`` (a file, or a shipped config's name such as
    ``arm_reach_sac_gsde``), then apply ``overrides`` (dotted keys, e.g.
    ``{"budget.total_timesteps": 500, "seed": 3}``).

    :raises ConfigError: the file is missing, not YAML, or has a bad key or value.
    """
    file = resolve_config_path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML ({error}); fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{file}: a training config is a YAML mapping (algorithm, env, ...); got {type(data).__name__}"
        )
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value, file)
    config = config_from_dict(data, source=str(file))
    config.name = config.name or file.stem
    return config


def resolve_config_path(path: str | Path) -> Path:
    """``path`` itself when it exists, else the shipped config of that name.

    :raises ConfigError: neither exists (the message lists the shipped configs).
    """
    file = Path(path)
    if file.is_file():
        return file
    shipped = CONFIG_DIR / f"{Path(path).stem}.yaml"
    if shipped.is_file() and file.parent == Path("."):
        return shipped
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    raise ConfigError(f"training config '{path}' not found; give a YAML path or one of the shipped configs: {names}")


def config_from_dict(data: Mapping[str, Any], source: str = "<config>") -> TrainConfig:
    """A :class:`TrainConfig` from the YAML layout.

    :raises ConfigError: an unknown key, a wrong type or an unsupported combination.
    """
    data = dict(data)
    _check_keys(
        data,
        {
            "name",
            "algorithm",
            "env",
            "policy",
            "hyperparams",
            "exploration",
            "her",
            "budget",
            "seed",
            "eval",
            "checkpoint",
        },
        source,
        "",
    )
    algorithm = str(data.get("algorithm", "SAC")).upper()
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"{source}: algorithm '{data.get('algorithm')}' is not supported; use one of {ALGORITHMS}")
    exploration = _mapping(data.get("exploration"), source, "exploration")
    _check_keys(exploration, {"gsde", "curiosity"}, source, "exploration.")
    budget = _mapping(data.get("budget"), source, "budget")
    _check_keys(budget, {"total_timesteps"}, source, "budget.")
    curiosity = exploration.get("curiosity")
    config = TrainConfig(
        name=str(data.get("name") or ""),
        algorithm=algorithm,
        env=_dataclass(EnvConfig, data.get("env"), source, "env"),
        policy=data.get("policy"),
        hyperparams=dict(_mapping(data.get("hyperparams"), source, "hyperparams")),
        gsde=_dataclass(GsdeConfig, exploration.get("gsde"), source, "exploration.gsde"),
        curiosity=None
        if curiosity is None
        else _dataclass(CuriosityConfig, curiosity, source, "exploration.curiosity"),
        her=None if data.get("her") is None else dict(_mapping(data.get("her"), source, "her")),
        total_timesteps=int(budget.get("total_timesteps", 10000)),
        seed=int(data.get("seed", 0)),
        eval=_dataclass(EvalConfig, data.get("eval"), source, "eval"),
        checkpoint=_dataclass(CheckpointConfig, data.get("checkpoint"), source, "checkpoint"),
        source=source,
    )
    _validate(config, source)
    return config


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write the resolved config (every default filled in) as YAML."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")


# --- checks -------------------------------------------------------------------------------------

_SDE_KEYS_IN_HYPERPARAMS = {"use_sde", "sde_sample_freq", "use_sde_at_warmup"}
_RESERVED_HYPERPARAMS = {"env", "policy", "seed", "replay_buffer_class", "replay_buffer_kwargs", "tensorboard_log"}


def _validate(config: TrainConfig, source: str) -> None:
    from sim.tasks import TASKS, GoalTask

    if config.env.task not in TASKS:
        raise ConfigError(f"{source}: env.task '{config.env.task}' is not a task; use one of {sorted(TASKS)}")
    if config.env.n_envs < 1:
        raise ConfigError(f"{source}: env.n_envs must be >= 1, got {config.env.n_envs}")
    if config.env.vec_env not in ("dummy", "subproc"):
        raise ConfigError(f"{source}: env.vec_env must be 'dummy' or 'subproc', got '{config.env.vec_env}'")
    if config.total_timesteps < 1:
        raise ConfigError(f"{source}: budget.total_timesteps must be >= 1, got {config.total_timesteps}")
    misplaced = (_SDE_KEYS_IN_HYPERPARAMS | _RESERVED_HYPERPARAMS) & set(config.hyperparams)
    if misplaced:
        raise ConfigError(
            f"{source}: hyperparams.{sorted(misplaced)[0]} is set by the config itself; "
            "put gSDE settings under exploration.gsde and leave env/policy/seed/buffers to their own keys"
        )
    policy_kwargs = config.hyperparams.get("policy_kwargs", {})
    gsde_keys = {"log_std_init", "full_std", "use_expln"} & set(
        policy_kwargs if isinstance(policy_kwargs, Mapping) else {}
    )
    if gsde_keys and config.gsde.use_sde:
        raise ConfigError(
            f"{source}: hyperparams.policy_kwargs.{sorted(gsde_keys)[0]} conflicts with exploration.gsde; set it there"
        )
    if config.her is not None:
        if not config.off_policy:
            raise ConfigError(f"{source}: her needs an off-policy algorithm (SAC or TQC), not {config.algorithm}")
        if not issubclass(TASKS[config.env.task], GoalTask):
            raise ConfigError(f"{source}: her needs a goal-conditioned task; {config.env.task} is not one")
    if config.curiosity is not None:
        if config.curiosity.method not in ("rnd", "icm"):
            raise ConfigError(f"{source}: exploration.curiosity.method must be 'rnd' or 'icm'")
        if config.curiosity.bonus not in ("global", "episodic", "combined"):
            raise ConfigError(f"{source}: exploration.curiosity.bonus must be 'global', 'episodic' or 'combined'")
        if not config.curiosity.weight >= 0:
            raise ConfigError(f"{source}: exploration.curiosity.weight must be >= 0")
    if config.gsde.use_sde and config.off_policy and not config.gsde.full_std:
        raise ConfigError(
            f"{source}: SB3's {config.algorithm} always uses full_std; remove exploration.gsde.full_std: false"
        )
    if config.gsde.sde_sample_freq == 0 or config.gsde.sde_sample_freq < -1:
        raise ConfigError(f"{source}: exploration.gsde.sde_sample_freq must be -1 or a positive number of steps")


def _mapping(value: Any, source: str, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: '{key}' must be a mapping, got {type(value).__name__}")
    return value


def _check_keys(data: Mapping[str, Any], allowed: set[str], source: str, prefix: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{source}: unknown key '{prefix}{unknown[0]}'; allowed here: {sorted(allowed)}")


def _dataclass(kind: Any, value: Any, source: str, key: str) -> Any:
    data = dict(_mapping(value, source, key))
    _check_keys(data, set(kind.__dataclass_fields__), source, f"{key}.")
    try:
        return kind(**data)
    except TypeError as error:
        raise ConfigError(f"{source}: '{key}': {error}") from None


def _set_dotted(data: dict[str, Any], dotted: str, value: Any, file: Path) -> None:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{file}: cannot override '{dotted}': '{part}' is not a mapping")
        node = child
    node[last] = value
