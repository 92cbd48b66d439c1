"""Training with stable-baselines3, evaluation, export to and loading of policy bundles.

Modules, in the order a policy meets them:

- :mod:`policies.config`: the training config (YAML, RL Zoo style) and its checks.
- :mod:`policies.environments`: vectorised, monitored, normalized environments of a config.
- :mod:`policies.algorithms`: the SB3 learner of a config (SAC, TQC, PPO; HER).
- :mod:`policies.gsde`: SAC/TQC whose gSDE noise is held for an episode (smooth exploration).
- :mod:`policies.curiosity`: RND and ICM intrinsic rewards, global, episodic or combined.
- :mod:`policies.callbacks`, :mod:`policies.metrics`: exploration metrics and checkpoints.
- :mod:`policies.train`: the training loop of ``sim2real train``; :mod:`policies.run_folder`: what it writes.
- :mod:`policies.evaluate`, :mod:`policies.plots`: evaluation with video, learning curves.
- :mod:`policies.export`: a run folder -> a bundle (ONNX, ``bundle.yaml``, parity vectors).
- :mod:`policies.bundle`: ``load_bundle(path, robot_spec)``, onnxruntime, no pickle.
- :mod:`policies.deploy`: the deployment loop (observation, bundle, safety layer, ``Robot.write``).

Importing this package imports nothing heavy: :mod:`policies.bundle` and :mod:`policies.deploy`
need only numpy, yaml, ``hardware`` and (when a bundle loads) onnxruntime, so a robot computer
runs them without torch or SB3.
"""
