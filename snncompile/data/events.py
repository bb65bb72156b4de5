"""ON/OFF event frames: what a DVS camera sees while a still image moves in front of it.

A dynamic vision sensor (DVS) pixel reports an event when the brightness it sees changes by more than a contrast
threshold: an ON event for an increase, an OFF event for a decrease. Data sets such as N-MNIST were recorded by moving
the sensor in small saccades in front of still digits. :func:`event_frames` does the same, deterministically:

1. **Motion.** The image moves along a closed one-pixel square, one pixel per step: right, down, left, up, repeated.
   The camera sees view ``p`` = the image translated by ``MOTION_PATH[p % 4]`` (``(dy, dx)`` in pixels of the given
   image); what leaves the field of view is lost, what enters it is black.
2. **Resize.** Each view is resized to ``size`` x ``size`` with bilinear interpolation (``align_corners=False``), so
   the motion is one *source* pixel per step at any output size.
3. **Events.** Frame ``t`` (``t = 0..T-1``) holds the change between views ``t`` and ``t+1``, ``d = view[t+1] -
   view[t]`` (brightness in ``[0, 1]``, linear: the digits' background is black, where a logarithm is undefined):
   channel 0 (ON) is ``d > CONTRAST_THRESHOLD``, channel 1 (OFF) is ``d < -CONTRAST_THRESHOLD``.

The result is binary ``{0, 1}`` float32 of shape ``[N, T, 2, size, size]``; the same images always give the same frames.
"""

import torch
import torch.nn.functional as F

MOTION_PATH = ((0, 0), (0, 1), (1, 1), (1, 0))
CONTRAST_THRESHOLD = 0.25


def event_frames(images: torch.Tensor, T: int, size: int) -> torch.Tensor:
    """ON/OFF event frames ``[N, T, 2, size, size]`` of grey images ``[N, 1, H, W]`` in ``[0, 1]`` (see above)."""
    views = torch.stack([_translate(images, *MOTION_PATH[p % len(MOTION_PATH)]) for p in range(T + 1)], dim=1)
    views = resize(views.flatten(0, 1), size).unflatten(0, (images.shape[0], T + 1))
    change = views[:, 1:] - views[:, :-1]
    on = change > CONTRAST_THRESHOLD
    off = change < -CONTRAST_THRESHOLD
    return torch.cat([on, off], dim=2).float()


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resize (``align_corners=False``) of images ``[N, C, H, W]`` to ``size`` x ``size`` (no-op if equal)."""
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def _translate(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``images`` moved ``dy`` pixels down and ``dx`` right (non-negative), filled with black where nothing is seen."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (dx, 0, dy, 0))
    return padded[..., :height, :width]
