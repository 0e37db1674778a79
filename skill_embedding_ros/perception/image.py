"""Pictures as sensor_msgs/Image carries them, without cv_bridge (it has no pip wheel): a numpy
view of the message's bytes by its encoding, size and row step (ROS-free)."""

from __future__ import annotations

import cv2
import numpy as np

CHANNELS = {"mono8": 1, "rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4}
"""The 8-bit encodings read (sensor_msgs/image_encodings.hpp names) and their channels."""
_TO_GRAY = {
    "rgb8": cv2.COLOR_RGB2GRAY,
    "bgr8": cv2.COLOR_BGR2GRAY,
    "rgba8": cv2.COLOR_RGBA2GRAY,
    "bgra8": cv2.COLOR_BGRA2GRAY,
}


def image_view(encoding: str, height: int, width: int, step: int, data) -> np.ndarray:
    """[height, width] or [height, width, channels] uint8 over `data` (bytes-like; no copy),
    rows `step` bytes apart (a row may be padded). ValueError saying what does not fit."""
    if encoding not in CHANNELS:
        raise ValueError(
            f"image encoding {encoding!r} is not supported; use one of {list(CHANNELS)}"
        )
    channels = CHANNELS[encoding]
    if height < 1 or width < 1 or step < width * channels:
        raise ValueError(
            f"image of {width} x {height} px {encoding} needs a step >= {width * channels} "
            f"bytes, got step {step}"
        )
    buffer = np.frombuffer(data, np.uint8)
    if buffer.size < step * height:
        raise ValueError(
            f"image of {height} rows x {step} bytes needs {step * height} bytes, got {buffer.size}"
        )
    rows = buffer[: step * height].reshape(height, step)[:, : width * channels]
    return rows.reshape(height, width) if channels == 1 else rows.reshape(height, width, channels)


def gray(encoding: str, height: int, width: int, step: int, data) -> np.ndarray:
    """The picture as [height, width] uint8 grayscale (what marker detection reads)."""
    view = image_view(encoding, height, width, step, data)
    return view if view.ndim == 2 else cv2.cvtColor(view, _TO_GRAY[encoding])


_TO_RGB = {
    "mono8": cv2.COLOR_GRAY2RGB,
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
}


def rgb(encoding: str, height: int, width: int, step: int, data, scale: float = 1.0) -> np.ndarray:
    """The picture as [height, width, 3] uint8 RGB (what a video holds), resized by `scale`."""
    view = image_view(encoding, height, width, step, data)
    picture = view if encoding == "rgb8" else cv2.cvtColor(view, _TO_RGB[encoding])
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(picture)
