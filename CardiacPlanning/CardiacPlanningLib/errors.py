"""Exception classes for errors a user can cause. Messages name the input and say what to do."""

from __future__ import annotations


class CardiacPlanningError(Exception):
    """Base class of every error this library raises on purpose."""


class CardiacInputError(CardiacPlanningError, ValueError):
    """Bad input: wrong or corrupt file, missing phase, a point outside the image, no contrast..."""


class DicomInputError(CardiacInputError):
    """A DICOM file or series that cannot be used (corrupt, mixed series, missing slices...)."""


class OperationCancelled(CardiacPlanningError):
    """The user cancelled a long operation through its ``cancelled()`` callback."""
