"""``GET /download/<name>``: role-checked, audited downloads, and the built-in one (a phase of the open
case as NRRD, made in memory: no plaintext file is written on the server)."""

from __future__ import annotations

import gzip
import logging

import numpy as np
from aiohttp import web

from ..errors import CardiacPlanningError
from ..imaging.volume import Volume
from ..security.errors import PermissionDenied, SecurityError
from .context import Download, ReviewContext

logger = logging.getLogger(__name__)

_NRRD_TYPES = {"int16": "short", "uint16": "ushort", "int32": "int", "uint8": "uchar", "float32": "float"}


def volume_to_nrrd(volume: Volume) -> bytes:
    """A gzip-encoded NRRD (space left-posterior-superior, so LPS geometry is kept exactly)."""
    array = np.ascontiguousarray(volume.array)
    if array.dtype.name not in _NRRD_TYPES:
        array = array.astype(np.float32)
    d = np.asarray(volume.direction, dtype=float).reshape(3, 3)
    directions = " ".join(
        "(" + ",".join(f"{d[r, c] * volume.spacing[c]:.10g}" for r in range(3)) + ")" for c in range(3)
    )
    z, y, x = array.shape
    header = (
        "NRRD0004\n"
        f"type: {_NRRD_TYPES[array.dtype.name]}\n"
        "dimension: 3\n"
        "space: left-posterior-superior\n"
        f"sizes: {x} {y} {z}\n"
        f"space directions: {directions}\n"
        "kinds: domain domain domain\n"
        "endian: little\n"
        "encoding: gzip\n"
        "space origin: (" + ",".join(f"{o:.10g}" for o in volume.origin) + ")\n\n"
    )
    return header.encode("ascii") + gzip.compress(array.astype(array.dtype.newbyteorder("<")).tobytes(), 6)


def _export_action(ctx: ReviewContext) -> str:
    case = ctx.case
    if case is None:
        return "export.identified"
    return "export.deidentified" if ctx.store.is_deidentified(case.case_id) else "export.identified"


def _phase_nrrd(ctx: ReviewContext, request: web.Request) -> Download:
    case = ctx.case
    if case is None:
        raise CardiacPlanningError("open a case first")
    views = ctx.viewer.phase_views
    default = views.shown_phases()[0] if views is not None else 0
    try:
        k = int(request.query.get("phase", default))
    except ValueError:
        raise CardiacPlanningError(f"phase must be a number, got {request.query.get('phase')!r}") from None
    if not 0 <= k < case.phases:
        raise CardiacPlanningError(f"phase {k} does not exist: the case holds 0..{case.phases - 1}")
    volume = ctx.store.get_volume(case.case_id, case.ct_objects[k])
    return Download(volume_to_nrrd(volume), f"{case.case_id}_phase{k:02d}.nrrd", "application/octet-stream")


def add_builtin_downloads(ctx: ReviewContext) -> None:
    ctx.add_download("phase", _export_action, _phase_nrrd)


def download_handler(ctx: ReviewContext):
    """The aiohttp handler of ``/download/{name}`` (the gate has checked the cookie already)."""

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        route = ctx.downloads.get(name)
        if route is None:
            raise web.HTTPNotFound(text=f"no download {name!r}")
        try:
            seat = ctx.seat
            action = route.action(ctx) if callable(route.action) else route.action
            target = f"{ctx.case.case_id if ctx.case else '-'}:{name}"
            seat.guard.authorize(action, target)
        except PermissionDenied as exc:
            raise web.HTTPForbidden(text=str(exc)) from None
        except SecurityError as exc:
            raise web.HTTPUnauthorized(text=str(exc)) from None
        try:
            download = route.produce(ctx, request)
        except PermissionDenied as exc:
            raise web.HTTPForbidden(text=str(exc)) from None
        except CardiacPlanningError as exc:
            seat.guard.record(action, target, "failure", str(exc)[:500])
            raise web.HTTPBadRequest(text=str(exc)) from None
        seat.guard.record(
            action, target, "success", f"web download {download.filename} ({len(download.data)} bytes)"
        )
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in download.filename)
        return web.Response(
            body=download.data,
            content_type=download.content_type,
            headers={"Content-Disposition": f'attachment; filename="{safe}"'},
        )

    return handle
