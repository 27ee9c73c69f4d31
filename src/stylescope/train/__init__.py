"""Training: options, the loop, losses, augmentation, snapshots and multi-process helpers."""

from stylescope.train.loop import Trainer, train
from stylescope.train.options import OptionError, TrainOptions
from stylescope.train.snapshot import load_snapshot

__all__ = ["OptionError", "TrainOptions", "Trainer", "load_snapshot", "train"]
