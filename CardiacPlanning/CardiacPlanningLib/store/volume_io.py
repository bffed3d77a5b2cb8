"""In-memory serialisation of a :class:`Volume` for the store: the array as ``.npy`` bytes (no pickle)
and the geometry (spacing mm, origin LPS mm, direction columns) as JSON metadata. SimpleITK cannot
write NIfTI/NRRD to memory, and a temp file would put plaintext on disk, so neither is used."""

from __future__ import annotations

import io
import logging

import numpy as np

from ..errors import CardiacInputError
from ..imaging.volume import Volume

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-cardiac-volume+npy"


def volume_to_bytes(volume: Volume) -> tuple[bytes, dict]:
    """(npy bytes of the [z, y, x] array, geometry dict)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(volume.array), allow_pickle=False)
    geometry = {
        "spacing": [float(s) for s in volume.spacing],
        "origin": [float(o) for o in volume.origin],
        "direction": np.asarray(volume.direction, dtype=float).reshape(3, 3).tolist(),
        "metadata": dict(volume.metadata),
    }
    return buf.getvalue(), geometry


def volume_from_bytes(data: bytes, geometry: dict, what: str = "volume") -> Volume:
    """Inverse of :func:`volume_to_bytes`."""
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
        return Volume(
            array,
            spacing=tuple(geometry["spacing"]),
            origin=tuple(geometry["origin"]),
            direction=np.asarray(geometry["direction"], dtype=float),
            metadata=dict(geometry.get("metadata", {})),
        )
    except (KeyError, ValueError) as exc:
        raise CardiacInputError(f"{what}: stored volume is not readable ({exc})") from exc
