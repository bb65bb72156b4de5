"""The UCI handwritten digits shipped with scikit-learn: 1,797 grey images of 8 x 8 pixels, 10 classes, offline.

``sklearn.datasets.load_digits`` reads them from a file inside the scikit-learn package, so nothing is downloaded.
Each pixel counts the ink of a 4 x 4 block of a 32 x 32 bitmap: an integer in ``0..16``.
"""

import torch
from sklearn.datasets import load_digits

NUM_CLASSES = 10
GREY_LEVELS = 16


def images() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as float32 images ``[1797, 1, 8, 8]`` scaled to ``[0, 1]`` and their int64 labels ``[1797]``."""
    digits = load_digits()
    pixels = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / GREY_LEVELS
    return pixels, torch.tensor(digits.target, dtype=torch.int64)
