"""Training: fit a model, evaluate it, save and load checkpoints.

    history = pk.train.fit(model, criterion, optimizer, train_loader, epochs=20,
                           val_loader=val_loader, early_stopping=5, checkpoint="run.npz")
    pk.train.evaluate(model, test_loader, criterion)   # {"loss": ..., "accuracy": ...}
    history.plot("curves.png")
    pk.train.load("run.npz", model, optimizer=optimizer)  # verified, all or nothing
"""

from .checkpoint import CheckpointError, load, save
from .early_stopping import EarlyStopping
from .history import History
from .loop import evaluate, fit

__all__ = ["fit", "evaluate", "History", "EarlyStopping", "save", "load", "CheckpointError"]
