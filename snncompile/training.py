"""Training a zoo model on a :class:`~snncompile.data.Dataset`, on the CPU, reproducibly.

Adam on the cross-entropy of the logits, its learning rate following a cosine from ``lr`` down to 0 over all
iterations; surrogate gradients do the rest inside the spiking neurons. The same seed, data and initial model give
the same weights: the order of the samples and everything random in training depend only on ``seed``. (Floating-point
sums depend on the number of threads, so weights are bit-identical for the same ``torch.get_num_threads()``; torch's
default, one thread per core, is 20-30 % faster than one thread for the demo model on two cores.)
"""

import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from snncompile.data import Dataset, model_input
from snncompile.errors import ConfigError, require_count
from snncompile.training_defaults import BATCH_SIZE, LEARNING_RATE


def train(model: nn.Module, data: Dataset, *, epochs: int, batch_size: int = BATCH_SIZE, lr: float = LEARNING_RATE,
          seed: int = 0, progress: bool = True) -> dict:
    """Train ``model`` on ``data.train_x`` for ``epochs`` epochs; returns its metrics (plain Python values).

    A model with ``set_progress`` (shortcut back-propagation) is told the training progress ``i / I`` before each of
    the ``I`` iterations. ``progress`` shows a bar per epoch with the loss and running train accuracy on a terminal,
    and one line per epoch on stderr when it is not a terminal (a pipe or a log file: no carriage returns).
    The model is left in eval mode.
    """
    require_count(epochs, "epochs")
    require_count(batch_size, "batch_size")
    if not lr > 0:
        raise ConfigError(f"the learning rate must be > 0, got {lr!r}")
    _check_model_accepts(model, data)
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batches_per_epoch = -(-len(data.train_y) // batch_size)
    iterations = epochs * batches_per_epoch
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=iterations)
    iteration = 0
    start = time.perf_counter()
    bars = progress and sys.stderr.isatty()
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(data.train_y), generator=shuffle).split(batch_size)
        bar = tqdm(order, desc=f"epoch {epoch}/{epochs}", unit="batch", disable=not bars)
        loss_sum, correct, seen = 0.0, 0, 0
        for index in bar:
            if hasattr(model, "set_progress"):
                model.set_progress(iteration / iterations)
            x, y = model_input(data.train_x[index], data.encoding), data.train_y[index]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            iteration += 1
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.1%}")
        if progress and not bars:
            print(f"epoch {epoch}/{epochs}: loss {loss_sum / seen:.3f}, train accuracy {correct / seen:.1%}, "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    train_seconds = time.perf_counter() - start
    model.eval()
    return {
        "dataset": data.name,
        "encoding": data.encoding,
        "T": data.T,
        "image_size": data.image_size,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "train_loss": loss_sum / seen,
        "train_accuracy": evaluate(model, data.train_x, data.train_y, encoding=data.encoding),
        "test_accuracy": evaluate(model, data.test_x, data.test_y, encoding=data.encoding),
        "num_train": len(data.train_y),
        "num_test": len(data.test_y),
        "train_seconds": round(train_seconds, 2),
    }


def _check_model_accepts(model: nn.Module, data: Dataset) -> None:
    """Run ``model`` on two samples before training, so that a model/data mismatch is one clear error."""
    x = model_input(data.train_x[:2], data.encoding)
    try:
        with torch.no_grad():
            model.eval()
            logits = model(x)
    except RuntimeError as err:
        raise ConfigError(f"the model cannot run on {data.name} ({data.encoding} encoding, input {list(x.shape)}): "
                          f"{str(err).strip().splitlines()[0]}; check the architecture options against the data "
                          f"(image size, channels, encoding)") from None
    if logits.shape != (2, data.num_classes):
        raise ConfigError(f"the model returns shape {list(logits.shape)} for 2 samples of {data.name}; "
                          f"it must return logits [2, {data.num_classes}] (num_classes = {data.num_classes})")


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256, *,
             encoding: str = "direct") -> float:
    """Accuracy of ``model`` in eval mode on samples ``x`` (laid out as in a :class:`Dataset` of ``encoding``)."""
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(model_input(x[start:start + batch_size], encoding))
            correct += (logits.argmax(1) == y[start:start + batch_size]).sum().item()
    model.train(was_training)
    return correct / len(y)
