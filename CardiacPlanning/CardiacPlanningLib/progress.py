"""The one progress/cancel callback type used by every long operation.

A long operation takes ``progress: ProgressCallback | None`` and calls ``progress(fraction, message)``
with ``fraction`` in [0, 1]. It also takes ``cancelled: CancelCallback | None`` and stops with
:class:`OperationCancelled` when it returns True. :class:`Progress` bundles both and supports
sub-ranges so that a pipeline can hand each stage its share of the bar.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .errors import OperationCancelled

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]
CancelCallback = Callable[[], bool]


class Progress:
    """Reports ``fraction`` of a range [start, stop] of an outer progress bar and checks cancel."""

    def __init__(
        self,
        callback: ProgressCallback | None = None,
        cancelled: CancelCallback | None = None,
        start: float = 0.0,
        stop: float = 1.0,
    ) -> None:
        self.callback = callback
        self.cancelled = cancelled
        self.start = float(start)
        self.stop = float(stop)

    def __call__(self, fraction: float, message: str = "") -> None:
        """Report progress (fraction of this range) and raise OperationCancelled if asked to stop."""
        self.check()
        if self.callback is not None:
            f = min(max(float(fraction), 0.0), 1.0)
            self.callback(self.start + f * (self.stop - self.start), message)
        logger.debug("%.0f%% %s", 100 * fraction, message)

    def check(self) -> None:
        """Raise :class:`OperationCancelled` if the cancel callback says so."""
        if self.cancelled is not None and self.cancelled():
            raise OperationCancelled("operation cancelled by the user")

    def sub(self, start: float, stop: float) -> Progress:
        """A Progress for the part [start, stop] (fractions of this range)."""
        span = self.stop - self.start
        return Progress(self.callback, self.cancelled, self.start + start * span, self.start + stop * span)


def as_progress(
    progress: ProgressCallback | Progress | None = None, cancelled: CancelCallback | None = None
) -> Progress:
    """Wrap plain callbacks (or None) into a :class:`Progress`."""
    if isinstance(progress, Progress):
        if cancelled is not None and progress.cancelled is None:
            progress.cancelled = cancelled
        return progress
    return Progress(progress, cancelled)
