"""Experiments: one run end to end, then pipelines of runs, their summaries and the baselines."""
