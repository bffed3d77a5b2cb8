"""Planning results for a phantom case in the review store (demo, screenshots, browser tests): the
stent / valve-frame reconstructions of phase 0 by every algorithm (scored and ranked) and the
planning report, made by the project's own pipelines and stored encrypted with the case."""

from __future__ import annotations

import logging
from pathlib import Path

from ...errors import CardiacInputError
from ...imaging.volume import Volume
from ...labels import AORTA, LEFT_CORONARY
from ...progress import Progress, as_progress
from ...store.staging import ram_folder
from ...store.store import CaseStore
from .report_access import store_report_folder
from .stent_compare import store_stent_results

logger = logging.getLogger(__name__)

# phantom device -> (region label value, device kind of the stent pipeline)
DEVICE_REGIONS = {"valve": (AORTA, "valve"), "coronary": (LEFT_CORONARY, "coronary")}


def store_phantom_stents(store: CaseStore, case_ids: list[str], phantom_meta: dict, progress=None) -> list:
    """Reconstruct the phantom's device on phase 0 with every algorithm and store the ranked results
    in each of ``case_ids``. Returns [(name, score)] best first."""
    from ...stent import pipeline, region

    progress = as_progress(progress)
    device = phantom_meta.get("parameters", {}).get("stent", "none")
    if device not in DEVICE_REGIONS:
        raise CardiacInputError(f"the phantom holds no device (stent={device!r}): generate it with one")
    label, kind = DEVICE_REGIONS[device]
    phase0 = phantom_meta["files"]["phases"][0]
    ct, labels = Volume.read(phase0["ct"]), Volume.read(phase0["labels"])
    progress(0.0, "reconstructing the device")
    results, metal = pipeline.reconstruct_all(ct, region.region_from_label(ct, labels, label), kind)
    for case_id in case_ids:
        store_stent_results(store, case_id, results, metal)
    progress(1.0, "stent results stored")
    return [(rec.name, round(sc.total, 1)) for rec, sc in results]


def store_phantom_report(
    store: CaseStore,
    case_id: str,
    case_dir: str | Path,
    procedure: str = "tavr",
    deidentify: bool = False,
    progress: Progress | None = None,
) -> list[str]:
    """Write the ``procedure`` planning report (PDF + CDA) of the phantom case folder and store it
    with ``case_id`` (``deidentify`` for a research case). Returns the object names."""
    from ...report.build import generate_report

    with ram_folder("report-") as tmp:
        generate_report(
            case_dir,
            procedure,
            tmp,
            operator="Review demo",
            deidentify=deidentify,
            formats=("pdf", "cda"),
            progress=progress,
        )
        return store_report_folder(store, case_id, procedure, tmp)
