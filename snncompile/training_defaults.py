"""The defaults of :func:`snncompile.training.train`, readable without PyTorch (``train --help`` prints them)."""

BATCH_SIZE = 64
LEARNING_RATE = 3e-3  # demo MLF DS-ResNet, 12 epochs on digits: 96.2 % held-out at 1e-3, 97.6 % at 3e-3 and 1e-2
