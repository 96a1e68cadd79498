"""Experiments made of many training runs: hyperparameter search (search.py) and its pieces.

The floor above training: it composes and starts runs through `textclf.training.trainer` and never
reaches into a run's loop except through the per-epoch callback a run offers (`on_epoch`).
"""
