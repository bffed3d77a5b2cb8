"""Images: the Volume type, DICOM series reading and multi-phase grouping."""

from .volume import Volume

__all__ = ["Volume"]
