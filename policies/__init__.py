"""Training with stable-baselines3, configs, evaluation, export to and loading of policy bundles."""
