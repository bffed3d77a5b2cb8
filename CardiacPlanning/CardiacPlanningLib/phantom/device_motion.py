"""How an implanted metal device moves over the cardiac cycle: with the anatomy, keeping its shape.

The phantom's motion field (:mod:`.motion`) deforms soft tissue; applied point by point to a frame it
would spread the struts by ~1 mm and stretch the frame by 25 % at end-systole, which cobalt-chromium or
nitinol does not do. A device therefore moves by the rigid transform that best fits the anatomy's
motion at its envelope (the wall it is anchored to): least squares over envelope points ``X`` and
their moved positions ``Y = forward(X, f)`` (Kabsch / Umeyama, weighted equally), so the device stays
where it was implanted relative to that wall on average. A self-expanding (nitinol) frame also follows
the annulus' radial change within a bound: its radius scales by the wall's mean radial change about
the moved axis, clipped to +-``max_radial_change`` (default 3 %); balloon-expandable frames and
coronary stents (plastically deformed) keep their radius. Points are LPS mm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .devices import Device, _Tube

logger = logging.getLogger(__name__)

MAX_RADIAL_CHANGE = 0.03  # self-expanding frames: at most 3 % radial change over the cycle


@dataclass
class DevicePose:
    """Rigid pose of a device at one phase: ``x -> rotation @ (c + k (x - c)_radial ...)``; see
    :meth:`apply`. ``residual_mm`` is the RMS distance between the rigidly moved envelope and the
    anatomy's motion of it (how much the tissue around the device deforms)."""

    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,) mm
    radial_scale: float
    residual_mm: float

    def apply(self, points: np.ndarray, device: Device) -> np.ndarray:
        """Reference points (N, 3) LPS mm of ``device`` at this phase: the radial scale about the
        device axis (nearest axis point), then the rigid motion."""
        p = np.asarray(points, float).reshape(-1, 3)
        if self.radial_scale != 1.0:
            p = _scale_radially(p, device.axis, self.radial_scale)
        return p @ self.rotation.T + self.translation

    def to_json(self) -> dict:
        return {
            "rotation": np.round(self.rotation, 8).tolist(),
            "translationMm": np.round(self.translation, 5).tolist(),
            "radialScale": round(float(self.radial_scale), 6),
            "anatomyResidualMm": round(float(self.residual_mm), 4),
        }


def _scale_radially(p: np.ndarray, axis: np.ndarray, k: float) -> np.ndarray:
    from scipy.spatial import cKDTree

    dense = _dense_axis(axis)
    _, i = cKDTree(dense).query(p)
    t = np.gradient(dense, axis=0)[i]
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    d = p - dense[i]
    radial = d - (d * t).sum(1, keepdims=True) * t
    return p + (k - 1.0) * radial


def _dense_axis(axis: np.ndarray, step: float = 0.05) -> np.ndarray:
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(axis, axis=0), axis=1))])
    q = np.linspace(0.0, s[-1], max(int(s[-1] / step), 1) + 1)
    return np.stack([np.interp(q, s, axis[:, a]) for a in range(3)], 1)


def envelope_samples(device: Device, step_mm: float = 0.5, n_theta: int = 36) -> np.ndarray:
    """Points (N, 3) LPS mm on the device's lateral envelope (its tube at the radius profile)."""
    tube = _Tube(np.asarray(device.axis, float), np.asarray(device.radius_profile, float))
    z = np.linspace(0.0, tube.s[-1], max(int(tube.s[-1] / step_mm), 1) + 1)
    zz, tt = np.meshgrid(z, np.linspace(0, 2 * np.pi, n_theta, endpoint=False), indexing="ij")
    return tube.points(zz.ravel(), tt.ravel())


def rigid_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) minimising sum |R x_i + t - y_i|^2 (Kabsch 1976 / Umeyama 1991; proper rotation)."""
    cx, cy = x.mean(0), y.mean(0)
    u, _, vt = np.linalg.svd((x - cx).T @ (y - cy))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rot, cy - rot @ cx


def device_pose(device: Device, forward, max_radial_change: float | None = None) -> DevicePose:
    """The device's pose at a phase from ``forward`` ((N, 3) reference LPS points -> their positions
    at the phase: the anatomy's motion). ``max_radial_change`` defaults to :data:`MAX_RADIAL_CHANGE`
    for a self-expanding frame and 0 otherwise."""
    if max_radial_change is None:
        max_radial_change = MAX_RADIAL_CHANGE if device.style == "self_expanding" else 0.0
    x = envelope_samples(device)
    y = np.asarray(forward(x), float)
    rot, t = rigid_fit(x, y)
    k = 1.0
    if max_radial_change > 0:
        # the wall's radial change: radii of the moved envelope about the rigidly moved axis
        back = (y - t) @ rot  # moved points in the device's reference frame
        ratio = _radial_distance(back, device.axis) / np.maximum(_radial_distance(x, device.axis), 1e-6)
        k = float(np.clip(np.median(ratio), 1.0 - max_radial_change, 1.0 + max_radial_change))
        x = _scale_radially(x, device.axis, k)
        rot, t = rigid_fit(x, y)
    residual = float(np.sqrt(np.mean(np.sum((x @ rot.T + t - y) ** 2, axis=1))))
    return DevicePose(rot, t, k, residual)


def _radial_distance(p: np.ndarray, axis: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    dense = _dense_axis(axis)
    _, i = cKDTree(dense).query(p)
    t = np.gradient(dense, axis=0)[i]
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    d = p - dense[i]
    return np.linalg.norm(d - (d * t).sum(1, keepdims=True) * t, axis=1)


def moved_device(device: Device, forward, max_radial_change: float | None = None) -> Device:
    """``device`` at a phase (see :func:`device_pose`): struts and axis moved rigidly (after the
    bounded radial scale), radius profile times that scale; the pose is in ``metadata["pose"]``."""
    pose = device_pose(device, forward, max_radial_change)
    out = device.transformed(lambda p: pose.apply(p, device))
    out.radius_profile = np.asarray(device.radius_profile, float) * pose.radial_scale
    out.metadata["pose"] = pose.to_json()
    return out
