"""Training: the one loop (loop.py) and what it is made of: losses, EMA, balance, health, budgets,
recovery, and the reporting and evaluation of the snapshots it hands out. `api.py` has the entry
points `train` and `resume`."""

from .api import resume, train
from .loop import Trainer, TrainResult
from .recovery import TrainingDiverged

__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "train", "resume"]
