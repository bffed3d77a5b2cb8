"""Small synthetic device images for the stent tests: a phantom device (exact struts) rendered with
partial volume, PSF, blooming and noise by the phantom's own CT finishing, in a blood-filled vessel
whose label is the region; plus the exact distance to the device's true envelope."""

from __future__ import annotations

import numpy as np

from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.phantom import devices
from CardiacPlanningLib.phantom.ctsim import finish_ct


def valve_case(
    seed: int = 1,
    spacing: float = 0.5,
    normal=(0.3, 0.2, 1.0),
    radius_mm: float = 11.5,
    calcium: int = 0,
    centre=(0.0, 0.0, 0.0),
):
    """(ct Volume, label Volume with aorta = 6, Device) for a balloon-expandable frame in a tube;
    ``calcium`` nodules (850 HU, 1.5 mm radius, as the phantom's) sit in the wall against the struts.
    ``centre`` (LPS mm) moves the annulus, frame and tube within the same image grid (a cardiac phase)."""
    centre = np.asarray(centre, float)
    root = {"annulus_center": list(centre), "annulus_normal": list(normal), "annulus_radius_mm": radius_mm}
    dev = devices.valve_frame(root, rng=seed)
    n = int(np.ceil(2 * (radius_mm + 4.5) / spacing))
    nz = int(np.ceil((dev.metadata["heightMm"] + 9) / spacing))
    shape = (nz, n, n)
    origin = -np.array([n, n, nz]) * spacing / 2 + np.array([0, 0, 0.35 * dev.metadata["heightMm"]])
    geom = Volume(np.zeros(shape, np.int16), (spacing,) * 3, tuple(origin), np.eye(3))
    kji = np.indices(shape).reshape(3, -1).T
    p = geom.index_to_lps(kji[:, ::-1].astype(float)) - centre
    t = np.asarray(normal, float) / np.linalg.norm(normal)
    rho = np.linalg.norm(p - np.outer(p @ t, t), axis=1).reshape(shape)
    lumen = rho <= radius_mm
    hu = np.where(lumen, 350.0, 60.0).astype(np.float32)
    u = np.cross(t, [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(t, u)
    calc = np.zeros(shape, bool)
    for i in range(calcium):
        a = 2 * np.pi * i / max(calcium, 1)
        nodule = (0.3 * i + 0.2) * dev.metadata["heightMm"] * t + (radius_mm + 1.2) * (
            np.cos(a) * u + np.sin(a) * v
        )
        calc |= (np.linalg.norm(p - nodule, axis=1) <= 1.5).reshape(shape)
    hu[calc] = 850.0
    occ = devices.wire_occupancy(dev, geom, 3)
    ct = finish_ct(hu, spacing, np.random.default_rng(seed), 20.0, 1.0, metal=occ, metal_hu=20000.0)
    labels = np.where(lumen, 6, 0).astype(np.uint8)
    labels[calc] = 14
    labels[devices.wire_mask(dev, geom, occ)] = 16
    return geom.with_array(ct), geom.with_array(labels), dev


def envelope_distance(points: np.ndarray, dev) -> np.ndarray:
    """Distance (mm) of LPS points to the true closed envelope of a straight constant-radius device:
    the cylinder at its radius profile between the axis ends, with flat end caps."""
    a0, a1 = dev.axis[0], dev.axis[-1]
    t = (a1 - a0) / np.linalg.norm(a1 - a0)
    length = float(np.linalg.norm(a1 - a0))
    r = float(np.mean(dev.radius_profile))
    d = np.asarray(points, float) - a0
    z = d @ t
    rho = np.linalg.norm(d - np.outer(z, t), axis=1)
    inside = (z >= 0) & (z <= length) & (rho <= r)
    dz = np.maximum(np.maximum(-z, z - length), 0)
    outside = np.hypot(np.maximum(rho - r, 0), dz)
    return np.where(inside, np.minimum(np.minimum(r - rho, z), length - z), outside)


def coronary_case(seed: int = 2, spacing: float = 0.4, bend_mm: float = 0.0, radius_mm: float = 1.6):
    """(ct Volume, label Volume with the vessel = 8, Device) for a ring-and-link stent in a straight
    (or, with ``bend_mm``, gently bent) vessel of ``radius_mm`` running obliquely through the grid."""
    from types import SimpleNamespace

    s = np.linspace(0.0, 30.0, 121)
    d = np.array([0.2, 0.3, 1.0]) / np.linalg.norm([0.2, 0.3, 1.0])
    side = np.cross(d, [1.0, 0.0, 0.0])
    side /= np.linalg.norm(side)
    pts = s[:, None] * d + (bend_mm * ((s - 15.0) / 15.0) ** 2)[:, None] * side - 15.0 * d
    branch = SimpleNamespace(name="LAD", points=pts, radii=np.full(len(s), radius_mm))
    dev = devices.coronary_stent(branch, 0.2, 18.0, rng=seed)
    lo, hi = dev.axis.min(0) - 4.0, dev.axis.max(0) + 4.0
    size = np.ceil((hi - lo) / spacing).astype(int)
    geom = Volume(np.zeros(size[::-1], np.int16), (spacing,) * 3, tuple(lo), np.eye(3))
    kji = np.indices(geom.shape).reshape(3, -1).T
    p = geom.index_to_lps(kji[:, ::-1].astype(float))
    from scipy.spatial import cKDTree

    dense = np.stack([np.interp(np.linspace(0, 30, 1201), s, pts[:, a]) for a in range(3)], 1)
    rho = cKDTree(dense).query(p)[0].reshape(geom.shape)
    lumen = rho <= radius_mm
    hu = np.where(lumen, 400.0, 40.0).astype(np.float32)
    occ = devices.wire_occupancy(dev, geom, 3)
    ct = finish_ct(hu, spacing, np.random.default_rng(seed), 20.0, 1.0, metal=occ, metal_hu=25000.0)
    labels = np.where(lumen, 8, 0).astype(np.uint8)
    labels[devices.wire_mask(dev, geom, occ)] = 15
    return geom.with_array(ct), geom.with_array(labels), dev


def tube_envelope_distance(points: np.ndarray, dev, n_theta: int = 180) -> np.ndarray:
    """Distance (mm) of points to a dense sampling of the device's true lateral envelope (a tube at
    its radius profile around its axis polyline; ends open), for curved devices."""
    from scipy.spatial import cKDTree

    from CardiacPlanningLib.phantom.devices import _Tube

    tube = _Tube(dev.axis, dev.radius_profile)
    z = np.linspace(0.0, tube.s[-1], int(tube.s[-1] / 0.05) + 1)
    th = np.linspace(0.0, 2 * np.pi, n_theta, endpoint=False)
    zz, tt = np.meshgrid(z, th, indexing="ij")
    surf = tube.points(zz.ravel(), tt.ravel())
    return cKDTree(surf).query(np.asarray(points, float))[0]


def flared_frame_case(seed: int = 3, spacing: float = 0.6, radius_mm: float = 9.0, height_mm: float = 45.0):
    """(ct Volume, label Volume with the lumen = 6, Device) for a self-expanding (flared) frame whose
    outflow leaves the lumen: the lumen follows the frame's radius up to 70 % of its height and then
    stays at that radius, so the flared outflow crown lies in the wall (60 HU) as it does against
    an ascending aorta narrower than the frame's crown. No device label is added to the lumen."""
    root = {
        "annulus_center": [0.0, 0.0, 0.0],
        "annulus_normal": [0.2, 0.1, 1.0],
        "annulus_radius_mm": radius_mm,
    }
    dev = devices.valve_frame(root, style="self_expanding", rng=seed, height_mm=height_mm)
    lo, hi = dev.axis.min(0) - 17.0, dev.axis.max(0) + 17.0
    lo[2], hi[2] = dev.axis[:, 2].min() - 5.0, dev.axis[:, 2].max() + 5.0
    size = np.ceil((hi - lo) / spacing).astype(int)
    geom = Volume(np.zeros(size[::-1], np.int16), (spacing,) * 3, tuple(lo), np.eye(3))
    kji = np.indices(geom.shape).reshape(3, -1).T
    p = geom.index_to_lps(kji[:, ::-1].astype(float)) - dev.axis[0]
    t = (dev.axis[-1] - dev.axis[0]) / np.linalg.norm(dev.axis[-1] - dev.axis[0])
    z = p @ t
    rho = np.linalg.norm(p - np.outer(z, t), axis=1)
    s = np.linalg.norm(dev.axis - dev.axis[0], axis=1)
    wall_r = np.interp(np.minimum(z, 0.7 * s[-1]), s, dev.radius_profile) + dev.strut_radius_mm
    lumen = (rho <= wall_r).reshape(geom.shape)
    hu = np.where(lumen, 400.0, 60.0).astype(np.float32)
    occ = devices.wire_occupancy(dev, geom, 3)
    ct = finish_ct(hu, spacing, np.random.default_rng(seed), 20.0, 1.0, metal=occ, metal_hu=20000.0)
    return geom.with_array(ct), geom.with_array(np.where(lumen, 6, 0).astype(np.uint8)), dev
