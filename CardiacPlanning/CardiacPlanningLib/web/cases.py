"""How a 4D case lives in the encrypted store, for the browser review (no slicer, no trame here).

Objects of a reviewable case (names inside the case; the store encrypts and pseudonymises them)::

    phases.json      JSON: {"phases": [{"index", "percent", "label"}], "ed": i, "es": j,
                     "ed_es_from": how, "lv_volumes_ml": [...]}   (written by :func:`store_phases`)
    ct/phase_00 ...  one CT volume per phase, in cycle order (HU, LPS geometry)
    seg/phase_00 ... optional: the (propagated) label map of each phase, same grid as its CT

A case holding only ``ct_phase0``-style volumes (as the security demo stage stores) is shown as a
one-phase study. Every read goes through the store's guard, so it is checked against the role and
audited.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .. import labels as label_table
from ..errors import CardiacInputError
from ..imaging.volume import Volume
from ..motion.curves import ed_es_phases, label_volumes_ml
from ..progress import Progress, as_progress
from ..security.errors import PermissionDenied
from ..store.store import CaseStore

logger = logging.getLogger(__name__)

PHASES_OBJECT = "phases.json"
CT_PREFIX = "ct/phase_"
SEG_PREFIX = "seg/phase_"
LEGACY_CT_PREFIX = "ct_phase"


def ct_object(index: int) -> str:
    """Store object name of phase ``index``'s CT."""
    return f"{CT_PREFIX}{int(index):02d}"


def seg_object(index: int) -> str:
    """Store object name of phase ``index``'s label map."""
    return f"{SEG_PREFIX}{int(index):02d}"


@dataclass
class CaseSummary:
    """One line of the case list (what the role may see: no patient data, only the case id)."""

    case_id: str
    phases: int
    segmented: bool
    deidentified: bool

    def to_state(self) -> dict:
        return {
            "id": self.case_id,
            "phases": self.phases,
            "segmented": self.segmented,
            "deidentified": self.deidentified,
        }


@dataclass
class CaseIndex:
    """What :func:`open_case` learns about a case: phases, ED/ES and which objects hold them."""

    case_id: str
    ct_objects: list[str]
    seg_objects: list[str] = field(default_factory=list)
    percents: list[float | None] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ed: int = 0
    es: int = 0
    ed_es_from: str = "first phase"

    @property
    def phases(self) -> int:
        return len(self.ct_objects)


def _ct_names(objects: list[str]) -> list[str]:
    names = sorted(o for o in objects if o.startswith(CT_PREFIX))
    if not names:
        names = sorted(
            (o for o in objects if o.startswith(LEGACY_CT_PREFIX)),
            key=lambda o: int(o[len(LEGACY_CT_PREFIX) :]) if o[len(LEGACY_CT_PREFIX) :].isdigit() else 0,
        )
    return names


def list_reviewable(store: CaseStore) -> list[CaseSummary]:
    """The cases of ``store`` the session may see that hold CT phases (researchers: de-identified
    cases only). Roles without ``case.list`` (the administrators) get :class:`PermissionDenied`."""
    out = []
    for case_id in store.list_cases():
        try:
            objects = store.list_objects(case_id)
        except PermissionDenied:
            continue
        cts = _ct_names(objects)
        if not cts:
            continue
        segs = [o for o in objects if o.startswith(SEG_PREFIX)]
        out.append(CaseSummary(case_id, len(cts), len(segs) == len(cts), store.is_deidentified(case_id)))
    return out


def open_case(store: CaseStore, case_id: str) -> CaseIndex:
    """Read the case's phase list (checked and audited by the store); ED/ES from ``phases.json``."""
    objects = store.list_objects(case_id)
    cts = _ct_names(objects)
    if not cts:
        raise CardiacInputError(f"case {case_id!r} holds no CT phase (objects {CT_PREFIX}NN)")
    segs = [seg_object(k) for k in range(len(cts))] if cts[0].startswith(CT_PREFIX) else []
    if not all(s in objects for s in segs):
        segs = []
    index = CaseIndex(case_id, cts, segs, [None] * len(cts), [f"phase {k}" for k in range(len(cts))])
    if PHASES_OBJECT in objects:
        data, _info = store.get_bytes(case_id, PHASES_OBJECT)
        meta = json.loads(data)
        phases = meta.get("phases", [])
        if len(phases) == len(cts):
            index.percents = [p.get("percent") for p in phases]
            index.labels = [str(p.get("label") or f"phase {k}") for k, p in enumerate(phases)]
        if "ed" in meta and "es" in meta:
            index.ed, index.es = int(meta["ed"]), int(meta["es"])
            index.ed_es_from = str(meta.get("ed_es_from", "phases.json"))
    elif len(cts) >= 2:
        index.ed, index.es = 0, len(cts) // 2
        index.ed_es_from = "no phase list: first and middle phase"
    if len(cts) == 1:
        index.ed = index.es = 0
    return index


def iter_volumes(store: CaseStore, case_id: str, names: Iterable[str]) -> Iterator[Volume]:
    """The stored volumes ``names`` of ``case_id`` one at a time (decrypted in memory, audited)."""
    for name in names:
        yield store.get_volume(case_id, name)


def store_phases(
    store: CaseStore,
    case_id: str,
    cts: Iterable[Volume],
    percents: list[float],
    segmentations: Iterable[Volume] | None = None,
    deidentified: bool | None = None,
    progress: Progress | None = None,
) -> dict:
    """Write a 4D case (CT per phase, optional label map per phase, ``phases.json``) to ``store``,
    streaming one phase at a time. ED/ES come from the LV blood-pool volume curve when label maps
    are given, else from the nominal percentages. Returns the ``phases.json`` content."""
    progress = as_progress(progress)
    percents = [float(p) for p in percents]
    n = len(percents)
    if n < 1:
        raise CardiacInputError(f"case {case_id!r}: no phases to store")
    seg_iter = iter(segmentations) if segmentations is not None else None
    lv: list[float] = []
    count = 0
    for k, ct in enumerate(cts):
        if k >= n:
            raise CardiacInputError(f"case {case_id!r}: more CT phases than the {n} percentages")
        store.put_volume(case_id, ct_object(k), ct, deidentified=deidentified if k == 0 else None)
        if seg_iter is not None:
            seg = next(seg_iter, None)
            if seg is None:
                raise CardiacInputError(f"case {case_id!r}: no label map for phase {k}")
            if seg.array.shape != ct.array.shape:
                raise CardiacInputError(
                    f"case {case_id!r} phase {k}: label map {seg.array.shape} and CT {ct.array.shape} differ"
                )
            store.put_volume(case_id, seg_object(k), seg.with_array(seg.array.astype(np.uint8)))
            lv.append(label_volumes_ml(seg.array, seg.spacing, [label_table.LV_BLOOD_POOL])[1])
        count += 1
        progress((k + 1) / n, f"phase {k + 1}/{n} stored")
    if count != n:
        raise CardiacInputError(f"case {case_id!r}: {count} CT phases for {n} percentages")
    if n >= 2:
        ed, es, how = ed_es_phases(lv or None, percents)
    else:
        ed, es, how = 0, 0, "single phase"
    meta = {
        "phases": [{"index": k, "percent": p, "label": f"{p:g}%"} for k, p in enumerate(percents)],
        "ed": ed,
        "es": es,
        "ed_es_from": how,
        "lv_volumes_ml": [round(v, 3) for v in lv],
    }
    store.put_bytes(case_id, PHASES_OBJECT, json.dumps(meta).encode(), "application/json")
    return meta


def store_phantom_case(
    store: CaseStore, case_id: str, phantom_meta: dict, deidentified: bool | None = None, progress=None
) -> dict:
    """Store a phantom case written by :func:`CardiacPlanningLib.phantom.generate.generate_case`
    (its metadata dict, or the content of its ``phantom.json``) as a reviewable 4D case."""
    phases = phantom_meta.get("files", {}).get("phases") or []
    if not phases:
        raise CardiacInputError("phantom metadata lists no phase files (files.phases)")
    return store_phases(
        store,
        case_id,
        (Volume.read(p["ct"]) for p in phases),
        [p["percent"] for p in phases],
        (Volume.read(p["labels"]) for p in phases),
        deidentified=deidentified,
        progress=progress,
    )
