"""Curiosity networks, RND and ICM, and :class:`Curiosity`, which feeds them observation batches.

- :class:`RandomNetworkDistillation` (Burda et al. 2018, "Exploration by Random Network
  Distillation"): novelty of ``s'`` = squared error of a trained predictor against a fixed,
  randomly initialised target network.
- :class:`IntrinsicCuriosityModule` (Pathak et al. 2017, "Curiosity-driven Exploration by
  Self-supervised Prediction"): novelty of ``(s, a, s')`` = error of a forward model that predicts
  the embedding of ``s'`` from the embedding of ``s`` and ``a``; the embedding is learned by an
  inverse model that predicts ``a`` (continuous, mean squared error) from both embeddings.

Both see observations flattened (``Dict`` observations: the chosen keys, concatenated in sorted
order) and normalized by their own running statistics, clipped to [-5, 5] as in the RND paper,
independent of any ``VecNormalize``. Actions are expected scaled to [-1, 1] (what SB3 stores in
its replay buffers). Everything runs on the CPU with numpy in and numpy out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from numpy.typing import NDArray
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.torch_layers import create_mlp
from torch import nn

from policies.config import CuriosityConfig

#: Normalized observations are clipped to this range (RND paper, section 2.4).
OBSERVATION_CLIP = 5.0
#: ICM: weight of the forward loss against the inverse loss (the paper's beta).
ICM_FORWARD_WEIGHT = 0.2
#: The key that HER relabels; left out of the curiosity input by default.
DESIRED_GOAL = "desired_goal"

#: An observation batch: an array ``(N, *shape)`` or, for ``Dict`` spaces, a mapping of them
#: (numpy arrays or torch tensors, as SB3's buffers return them), or the flattened ``(N, D)``.
ObservationBatch = NDArray[Any] | torch.Tensor | Mapping[str, NDArray[Any] | torch.Tensor]


class CuriosityError(ValueError):
    """Curiosity cannot be set up for these spaces or this learner; the message says why and the fix."""


class RandomNetworkDistillation(nn.Module):
    """RND: a predictor trained to match a fixed random target network on the states visited.

    :param observation_dim: size of the flattened, normalized observation.
    :param embedding_dim: output size of the target and the predictor.
    :param hidden_size: width of the hidden layers.
    """

    def __init__(self, observation_dim: int, embedding_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.target = nn.Sequential(
            *create_mlp(observation_dim, embedding_dim, [hidden_size, hidden_size], nn.LeakyReLU)
        )
        # The predictor is deeper than the target, as in the paper, so that it can fit it.
        self.predictor = nn.Sequential(
            *create_mlp(observation_dim, embedding_dim, [hidden_size, hidden_size, hidden_size], nn.LeakyReLU)
        )
        self.target.requires_grad_(False)

    def forward(
        self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Novelty of each ``next_obs`` (mean squared prediction error, ``(N,)``, detached) and the
        predictor's training loss (their mean). ``obs`` and ``actions`` are unused."""
        errors = (self.predictor(next_obs) - self.target(next_obs)).pow(2).mean(dim=1)
        return errors.detach(), errors.mean()


class IntrinsicCuriosityModule(nn.Module):
    """ICM for continuous actions: an encoder trained by inverse dynamics, and a forward model
    whose prediction error in that embedding is the novelty.

    :param observation_dim: size of the flattened, normalized observation.
    :param action_dim: size of the (flattened) Box action, scaled to [-1, 1].
    :param embedding_dim: size of the learned state embedding.
    :param hidden_size: width of the hidden layers.
    """

    def __init__(self, observation_dim: int, action_dim: int, embedding_dim: int, hidden_size: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(*create_mlp(observation_dim, embedding_dim, [hidden_size], nn.LeakyReLU))
        self.forward_model = nn.Sequential(
            *create_mlp(embedding_dim + action_dim, embedding_dim, [hidden_size], nn.LeakyReLU)
        )
        self.inverse_model = nn.Sequential(
            *create_mlp(2 * embedding_dim, action_dim, [hidden_size], nn.LeakyReLU, squash_output=True)
        )

    def forward(
        self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Novelty of each transition (forward error ``0.5 ||f(phi(s), a) - phi(s')||^2``, ``(N,)``,
        detached) and the training loss ``(1 - beta) L_inverse + beta L_forward``."""
        phi, next_phi = self.encoder(obs), self.encoder(next_obs)
        predicted_next_phi = self.forward_model(torch.cat((phi, actions), dim=1))
        # The forward target is detached: otherwise the encoder could shrink every embedding to
        # zero and make every state look familiar; the inverse loss alone shapes the embedding.
        forward_errors = 0.5 * (predicted_next_phi - next_phi.detach()).pow(2).sum(dim=1)
        predicted_actions = self.inverse_model(torch.cat((phi, next_phi), dim=1))
        inverse_loss = (predicted_actions - actions).pow(2).mean()
        loss = (1.0 - ICM_FORWARD_WEIGHT) * inverse_loss + ICM_FORWARD_WEIGHT * forward_errors.mean()
        return forward_errors.detach(), loss


def observation_keys(observation_space: spaces.Space[Any], keys: list[str] | None) -> list[str] | None:
    """The sorted ``Dict`` keys the curiosity sees (``None`` for a ``Box`` space).

    :param keys: the configured keys; ``None`` means every key but ``desired_goal``.
    :raises CuriosityError: keys for a non-Dict space, an unknown key, or a non-Box entry.
    """
    if isinstance(observation_space, spaces.Box):
        if keys is not None:
            raise CuriosityError(f"curiosity.keys {keys} given for a Box observation space; set keys to null")
        return None
    if not isinstance(observation_space, spaces.Dict):
        raise CuriosityError(f"curiosity needs a Box or Dict observation space, got {observation_space}")
    available = sorted(observation_space.spaces)
    chosen = sorted(keys) if keys is not None else [key for key in available if key != DESIRED_GOAL]
    unknown = [key for key in chosen if key not in observation_space.spaces]
    if unknown or not chosen:
        raise CuriosityError(f"curiosity.keys {keys} must name observation keys among {available}")
    for key in chosen:
        if not isinstance(observation_space.spaces[key], spaces.Box):
            raise CuriosityError(f"curiosity needs Box observation entries; '{key}' is {observation_space.spaces[key]}")
    return chosen


class Curiosity:
    """A curiosity network with its optimizer and its observation normalization.

    Made by :func:`make_curiosity`; usable without SB3. Batches are numpy arrays or torch tensors
    (any device); results are numpy.

    :param config: the curiosity settings (method, sizes, learning rate, keys).
    :param observation_space: the environment's observation space (Box, or Dict of Boxes).
    :param action_space: the environment's action space (Box; anything for RND).
    :param seed: seeds the networks' initialisation (the global torch RNG is left untouched).
    """

    def __init__(
        self,
        config: CuriosityConfig,
        observation_space: spaces.Space[Any],
        action_space: spaces.Space[Any],
        seed: int = 0,
    ) -> None:
        self.config = config
        self.keys = observation_keys(observation_space, config.keys)
        if self.keys is None:
            self._flat_dim = spaces.flatdim(observation_space)
        else:
            assert isinstance(observation_space, spaces.Dict)
            self._flat_dim = sum(spaces.flatdim(observation_space.spaces[key]) for key in self.keys)
        self.indices: NDArray[np.int64] | None = None
        if config.indices is not None:
            self.indices = np.asarray(config.indices, dtype=np.int64)
            inside = np.all((self.indices >= 0) & (self.indices < self._flat_dim))
            # Fewer than all elements, so a selected batch is never mistaken for a whole one.
            if self.indices.ndim != 1 or not 0 < len(self.indices) < self._flat_dim or not inside:
                raise CuriosityError(
                    f"curiosity.indices {config.indices} must be some (not all) element indices in "
                    f"0..{self._flat_dim - 1} of the (flattened) observation; use null for all"
                )
        self.observation_dim = self._flat_dim if self.indices is None else len(self.indices)
        if config.method == "icm" and not isinstance(action_space, spaces.Box):
            raise CuriosityError(
                f"curiosity method 'icm' needs a Box action space, got {action_space}; use method 'rnd'"
            )
        self.action_dim = spaces.flatdim(action_space) if isinstance(action_space, spaces.Box) else 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.network: nn.Module
            if config.method == "rnd":
                self.network = RandomNetworkDistillation(self.observation_dim, config.embedding_dim, config.hidden_size)
            elif config.method == "icm":
                self.network = IntrinsicCuriosityModule(
                    self.observation_dim, self.action_dim, config.embedding_dim, config.hidden_size
                )
            else:
                raise CuriosityError(f"curiosity method '{config.method}' is unknown; use 'rnd' or 'icm'")
        self.optimizer = torch.optim.Adam(
            [parameter for parameter in self.network.parameters() if parameter.requires_grad], lr=config.learning_rate
        )
        self.observation_rms = RunningMeanStd(shape=(self.observation_dim,))

    def flatten(self, obs: ObservationBatch) -> NDArray[np.float32]:
        """The observation batch as ``(N, observation_dim)`` float32 (Dict: the keys, concatenated
        in sorted order; then the configured ``indices``). An array is taken as already
        flattened (all keys), also for Dict spaces, or as flattened and selected when its size
        is the number of ``indices``."""
        if not isinstance(obs, Mapping):
            array = _numpy(obs)
            if self.indices is not None and array.shape[-1] == self.observation_dim:
                return array.reshape(-1, self.observation_dim)  # flattened and selected already
            flat = array.reshape(-1, self._flat_dim)
        elif self.keys is None:
            raise CuriosityError("a Dict observation batch was given for a Box observation space")
        else:
            parts = [_numpy(obs[key]) for key in self.keys]
            flat = np.concatenate([part.reshape(len(part), -1) for part in parts], axis=1)
        return flat if self.indices is None else flat[:, self.indices]

    def normalize(self, flat_obs: NDArray[Any]) -> NDArray[np.float32]:
        """Flattened observations normalized by the running statistics and clipped to [-5, 5]."""
        normalized = (flat_obs - self.observation_rms.mean) / np.sqrt(self.observation_rms.var + 1e-8)
        return np.clip(normalized, -OBSERVATION_CLIP, OBSERVATION_CLIP).astype(np.float32)

    def update_observation_statistics(self, obs: ObservationBatch) -> None:
        """Fold a batch of observations into the running normalization statistics."""
        self.observation_rms.update(self.flatten(obs).astype(np.float64))

    def bonus(
        self, obs: ObservationBatch, actions: NDArray[Any] | torch.Tensor, next_obs: ObservationBatch
    ) -> NDArray[np.float32]:
        """The global novelty of each transition, ``(N,)``, unnormalized (no training)."""
        with torch.no_grad():
            novelty, _ = self.network(*self._tensors(obs, actions, next_obs))
        return novelty.numpy()

    def update(self, obs: ObservationBatch, actions: NDArray[Any] | torch.Tensor, next_obs: ObservationBatch) -> float:
        """One gradient step of the curiosity network on this batch; returns the loss."""
        return self.bonus_and_update(obs, actions, next_obs)[1]

    def bonus_and_update(
        self, obs: ObservationBatch, actions: NDArray[Any] | torch.Tensor, next_obs: ObservationBatch
    ) -> tuple[NDArray[np.float32], float]:
        """The novelty of each transition *before* this step, then one gradient step on the batch
        (one forward pass for both: what the off-policy learner does for every sampled batch)."""
        novelty, loss = self.network(*self._tensors(obs, actions, next_obs))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return novelty.numpy(), float(loss.item())

    def _tensors(
        self, obs: ObservationBatch, actions: NDArray[Any] | torch.Tensor, next_obs: ObservationBatch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        next_tensor = torch.from_numpy(self.normalize(self.flatten(next_obs)))
        if self.config.method == "rnd":  # RND looks at s' only: skip the work on s and a
            return next_tensor, next_tensor, next_tensor
        obs_tensor = torch.from_numpy(self.normalize(self.flatten(obs)))
        action_tensor = torch.from_numpy(_numpy(actions).reshape(len(obs_tensor), self.action_dim))
        return obs_tensor, action_tensor, next_tensor

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizer and observation statistics (tensors only: ``torch.load`` with
        ``weights_only=True`` reads it)."""
        return {
            "method": self.config.method,
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "observation_rms": rms_state(self.observation_rms),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        :raises CuriosityError: the state was saved for another method or observation size.
        """
        if state["method"] != self.config.method:
            raise CuriosityError(
                f"curiosity state is for method '{state['method']}', this config uses '{self.config.method}'"
            )
        try:
            self.network.load_state_dict(state["network"])
        except RuntimeError as error:
            raise CuriosityError(
                f"curiosity state does not fit these networks (sizes or spaces changed): {error}"
            ) from None
        self.optimizer.load_state_dict(state["optimizer"])
        load_rms_state(self.observation_rms, state["observation_rms"])


def make_curiosity(
    config: CuriosityConfig, observation_space: spaces.Space[Any], action_space: spaces.Space[Any], seed: int = 0
) -> Curiosity:
    """The curiosity object of ``config`` for these spaces (see :class:`Curiosity`).

    :raises CuriosityError: unsupported spaces, keys or method.
    """
    return Curiosity(config, observation_space, action_space, seed=seed)


def rms_state(rms: RunningMeanStd) -> dict[str, torch.Tensor]:
    """A ``RunningMeanStd`` as tensors (for state dicts)."""
    return {
        "mean": torch.as_tensor(np.asarray(rms.mean, dtype=np.float64)),
        "var": torch.as_tensor(np.asarray(rms.var, dtype=np.float64)),
        "count": torch.tensor(float(rms.count), dtype=torch.float64),
    }


def load_rms_state(rms: RunningMeanStd, state: Mapping[str, torch.Tensor]) -> None:
    """Restore a ``RunningMeanStd`` from :func:`rms_state`."""
    if tuple(state["mean"].shape) != tuple(np.shape(rms.mean)):
        raise CuriosityError(f"saved statistics have shape {tuple(state['mean'].shape)}, expected {np.shape(rms.mean)}")
    rms.mean = state["mean"].numpy().astype(np.float64).reshape(np.shape(rms.mean))
    rms.var = state["var"].numpy().astype(np.float64).reshape(np.shape(rms.var))
    rms.count = float(state["count"])


def _numpy(array: NDArray[Any] | torch.Tensor) -> NDArray[np.float32]:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=np.float32)
