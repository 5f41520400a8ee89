"""Training: the one loop and what it is made of.

    api.py        train / resume, the twins of the CLI's commands
    loop.py       the Trainer: setup, the loop, checkpoints, evaluation, rollbacks
    phases.py     one iteration as phases (Dmain, Dreg, Gmain, Dboth) and the loss object
    fidelity.py   what each phase is fed, and the write-ups' variants (order, noise, reuse, TF Adam)
    losses.py     losses on logits (+ the write-ups' probability forms) and D's regularisers
    augment.py    differentiable augmentation and ADA's adaptive probability
    balance.py    the balance rule that pauses the winning side
    ema.py        the EMA of G's weights
    state.py      what a checkpoint holds, resume, NaN rollback, best.pt, per-rank random streams
    monitor.py    budgets and the clock, step statistics, health warnings
    reporting.py  stats, pictures, TensorBoard, and the scores of snapshots
    parallel.py   one process or many (torchrun): the process group and its collectives
    wrappers.py   how G and D run on their device: DDP, bf16 autocast, torch.compile, and their checks
"""

from .api import resume, train
from .loop import Trainer, TrainResult
from .state import TrainingDiverged

__all__ = ["Trainer", "TrainResult", "TrainingDiverged", "train", "resume"]
