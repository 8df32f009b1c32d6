"""The training loop: fit and evaluate.

One optimisation step per ``grad_accum_steps`` batches: the loss gradient of
each batch is scaled by 1 / (batches in its group) and the backward passes
accumulate into the parameters' .grad, so k batches of n samples step like one
batch of k·n samples (for losses averaged over the batch). The last group of
an epoch may be shorter and is scaled by its own size.
"""

from __future__ import annotations

import sys
import time

from .. import nn
from .checkpoint import save
from .early_stopping import EarlyStopping
from .history import History


def _is_plateau(scheduler) -> bool:
    from ..optim.lr_scheduler import ReduceLROnPlateau
    return isinstance(scheduler, ReduceLROnPlateau)


def _correct(out, target):
    """Correctly classified samples when out is (N, C) scores and target (N,)
    class indices; None otherwise (regression)."""
    if getattr(out, "ndim", 0) != 2 or getattr(target, "ndim", 0) != 1 or target.dtype.kind not in "iu":
        return None
    return int((out.argmax(axis=1) == target).sum())


def _progress(iterable, enabled: bool, desc: str, total: int):
    if not enabled:
        return iterable, None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable, None
    bar = tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, file=sys.stderr)
    return bar, bar


def evaluate(model, loader, criterion=None) -> dict:
    """Mean loss (with a criterion) and accuracy (for class-index targets) over
    a loader, in eval mode; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    total, count, correct, classify = 0.0, 0, 0, True
    try:
        if criterion is not None and hasattr(criterion, "to"):
            criterion.to(model.device)
        for xb, yb in loader:
            out = model(xb)
            n = len(xb)
            if criterion is not None:
                total += criterion(out, yb) * n
            c = _correct(out, yb)
            if c is None:
                classify = False
            else:
                correct += c
            count += n
    finally:
        model.train(was_training)
    return {"loss": total / count if criterion is not None and count else None,
            "accuracy": correct / count if classify and count else None}


def fit(model, criterion, optimizer, train_loader, *, epochs: int, val_loader=None, scheduler=None,
        early_stopping=None, checkpoint=None, grad_accum_steps: int = 1, clip_grad_norm=None,
        progress: bool = True, scheduler_interval: str = "epoch") -> History:
    """Train for ``epochs`` epochs; returns a History.

    val_loader: evaluated after each epoch (val_loss, val_accuracy).
    scheduler: stepped once per epoch (or per optimisation step with
        scheduler_interval="step"); ReduceLROnPlateau is stepped with the
        validation loss (the training loss without a val_loader).
    early_stopping: a patience (int) or an EarlyStopping; monitors val_loss
        (loss without validation) and restores the best epoch's weights.
    checkpoint: a path, rewritten atomically after every epoch with the
        model, optimizer, scheduler, epoch and history (see pk.train.load).
    grad_accum_steps: batches per optimisation step.
    clip_grad_norm: max global L2 norm of the gradients before each step.
    progress: a tqdm bar per epoch and one summary line per epoch.
    """
    # The inputs are data: the first layer need not compute their gradient.
    saved = model.needs_input_grad
    model.needs_input_grad = False
    try:
        return _fit(model, criterion, optimizer, train_loader, epochs=epochs,
                    val_loader=val_loader, scheduler=scheduler, early_stopping=early_stopping,
                    checkpoint=checkpoint, grad_accum_steps=grad_accum_steps,
                    clip_grad_norm=clip_grad_norm, progress=progress,
                    scheduler_interval=scheduler_interval)
    finally:
        model.needs_input_grad = saved


def _fit(model, criterion, optimizer, train_loader, *, epochs, val_loader, scheduler,
         early_stopping, checkpoint, grad_accum_steps, clip_grad_norm, progress,
         scheduler_interval) -> History:
    if isinstance(grad_accum_steps, bool) or not isinstance(grad_accum_steps, int) or grad_accum_steps < 1:
        raise ValueError(f"argument 'grad_accum_steps' must be a positive int, got {grad_accum_steps!r}")
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"argument 'scheduler_interval' must be 'epoch' or 'step', got {scheduler_interval!r}")
    if scheduler_interval == "step" and _is_plateau(scheduler):
        raise ValueError("ReduceLROnPlateau needs a metric: use scheduler_interval='epoch'")
    stopper = EarlyStopping(early_stopping) if isinstance(early_stopping, int) and \
        not isinstance(early_stopping, bool) else early_stopping
    if stopper is not None:
        stopper.reset()
    if hasattr(criterion, "to"):
        criterion.to(model.device)
    history = History()
    k = grad_accum_steps
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        optimizer.zero_grad()
        n_batches = len(train_loader)
        total, count, correct, classify = 0.0, 0, 0, True
        batches, bar = _progress(train_loader, progress, f"epoch {epoch + 1}/{epochs}", n_batches)
        for i, (xb, yb) in enumerate(batches):
            group_start = (i // k) * k
            group_size = min(k, n_batches - group_start)
            out = model(xb)
            loss = criterion(out, yb)
            model.backward(criterion.backward(1.0 / group_size) if group_size > 1 else criterion.backward())
            if i + 1 == group_start + group_size:
                if clip_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
                if scheduler is not None and scheduler_interval == "step":
                    scheduler.step()
            n = len(xb)
            total += loss * n
            count += n
            c = _correct(out, yb)
            if c is None:
                classify = False
            else:
                correct += c
            if bar is not None:
                bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        if bar is not None:
            bar.close()
        record = {"loss": total / max(count, 1), "accuracy": correct / count if classify and count else None}
        if val_loader is not None:
            val = evaluate(model, val_loader, criterion)
            record["val_loss"], record["val_accuracy"] = val["loss"], val["accuracy"]
        record["lr"] = optimizer.param_groups[0]["lr"]
        record["time"] = time.perf_counter() - start
        history.append(**record)
        if scheduler is not None and scheduler_interval == "epoch":
            if _is_plateau(scheduler):
                scheduler.step(record.get("val_loss", record["loss"]))
            else:
                scheduler.step()
        stop = False
        if stopper is not None:
            monitor = stopper.monitor or ("val_loss" if val_loader is not None else "loss")
            if record.get(monitor) is None:
                raise ValueError(f"early stopping monitors {monitor!r}, which this run does not record")
            stop = stopper.update(record[monitor], epoch, model)
            history.best_epoch = stopper.best_epoch
        if progress:
            print(_summary(epoch, epochs, record), file=sys.stderr)
        if checkpoint is not None:
            save(model, checkpoint, optimizer=optimizer, scheduler=scheduler, epoch=epoch, history=history)
        if stop:
            history.stopped_epoch = epoch
            if progress:
                print(f"early stopping after epoch {epoch + 1}: no improvement of "
                      f"{stopper.monitor or monitor} for {stopper.patience} epochs "
                      f"(best at epoch {stopper.best_epoch + 1})", file=sys.stderr)
            break
    if stopper is not None and stopper.restore_best_weights and stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)
    return history


def _summary(epoch, epochs, record) -> str:
    parts = [f"epoch {epoch + 1}/{epochs}", f"loss {record['loss']:.4f}"]
    if record.get("accuracy") is not None:
        parts.append(f"acc {100 * record['accuracy']:.2f}%")
    if record.get("val_loss") is not None:
        parts.append(f"val_loss {record['val_loss']:.4f}")
    if record.get("val_accuracy") is not None:
        parts.append(f"val_acc {100 * record['val_accuracy']:.2f}%")
    parts.append(f"lr {record['lr']:.3g}")
    parts.append(f"{record['time']:.2f} s")
    return "  ".join(parts)
