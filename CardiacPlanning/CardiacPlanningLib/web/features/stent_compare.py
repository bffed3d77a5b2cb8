"""The stent / valve-frame reconstructions of a case side by side (the browser's comparison table), and
the user's choice of one, stored and audited.

Store layout (objects of the case, written by :func:`store_stent_folder` from the folder that
:func:`CardiacPlanningLib.stent.pipeline.write_results` / ``cardiac-planning stent --out`` writes)::

    stent/ranking.json           names by total score, best first (+ metal detection values)
    stent/<name>.vtp             envelope mesh, LPS mm
    stent/<name>_axis.json       axis points and radius profile
    stent/<name>_score.json      score terms (:class:`CardiacPlanningLib.stent.score.Score`)
    stent/choice.json            the chosen reconstruction: name, rank, score, who, when

Reading needs the case's read permission; choosing needs ``case.write`` (clinicians); both audited."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ...errors import CardiacInputError
from ...store.errors import NotFoundError
from ...store.staging import ram_folder
from ...store.store import CaseStore

logger = logging.getLogger(__name__)

PREFIX = "stent/"
RANKING = PREFIX + "ranking.json"
CHOICE = PREFIX + "choice.json"
JSON_TYPE = "application/json"
VTP_TYPE = "application/vnd.vtk.polydata+xml"

# (score key, column heading, unit) of the comparison table, in display order
TERMS: tuple[tuple[str, str, str], ...] = (
    ("total", "Score", "0-100"),
    ("apposition", "Apposition", "%"),
    ("malapposed_area_mm2", "Malapposed area", "mm²"),
    ("mean_wall_distance_mm", "Mean wall distance", "mm"),
    ("completeness", "Completeness", "%"),
    ("max_gap_deg", "Largest gap", "°"),
    ("continuity", "Continuity", "%"),
)


def _files_of(name: str) -> tuple[str, str, str]:
    return f"{name}.vtp", f"{name}_axis.json", f"{name}_score.json"


def store_stent_folder(store: CaseStore, case_id: str, folder: str | Path) -> list[str]:
    """Store the results folder of ``write_results`` (every algorithm's mesh, axis and score, then
    the ranking, so a reader never finds a ranking without its files) in ``case_id``. Returns the
    object names written."""
    folder = Path(folder)
    try:
        ranking = json.loads((folder / "ranking.json").read_text(encoding="utf-8"))
        names = [r["name"] for r in ranking["ranking"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CardiacInputError(f"{folder} holds no readable stent ranking.json ({exc})") from exc
    if not names:
        raise CardiacInputError(f"{folder}/ranking.json lists no reconstruction")
    written = []
    for name in names:
        for fname in _files_of(name):
            path = folder / fname
            if not path.is_file():
                raise CardiacInputError(f"stent result {path} is missing (ranking.json lists {name!r})")
            ctype = VTP_TYPE if fname.endswith(".vtp") else JSON_TYPE
            store.put_bytes(case_id, PREFIX + fname, path.read_bytes(), ctype)
            written.append(PREFIX + fname)
    store.put_bytes(case_id, RANKING, (folder / "ranking.json").read_bytes(), JSON_TYPE)
    return [*written, RANKING]


def store_stent_results(store: CaseStore, case_id: str, results, metal) -> list[str]:
    """Store ``reconstruct_all``'s (results, metal) in ``case_id`` through the pipeline's own writers
    (a temporary folder holding the device meshes, removed at once)."""
    from ...stent.pipeline import write_results

    with ram_folder("stent-") as tmp:
        write_results(results, metal, tmp)
        return store_stent_folder(store, case_id, tmp)


def _polydata_from_xml(data: bytes, what: str):
    import vtk

    reader = vtk.vtkXMLPolyDataReader()
    reader.ReadFromInputStringOn()
    reader.SetInputString(data)
    reader.Update()
    mesh = reader.GetOutput()
    if mesh is None or mesh.GetNumberOfPoints() == 0:
        raise CardiacInputError(f"{what} is not a readable VTK polydata mesh")
    return mesh


@dataclass
class StentRow:
    """One reconstruction in the comparison: rank (1 = best), score terms, axis and radius (LPS mm)."""

    name: str
    rank: int
    scores: dict
    axis_lps: list
    radius_profile_mm: list
    metadata: dict

    @property
    def total(self) -> float:
        return float(self.scores["total"])

    @property
    def mesh_object(self) -> str:
        return PREFIX + f"{self.name}.vtp"

    def as_dict(self) -> dict:
        """The table row (name, rank and every score term) as plain JSON-able values."""
        return {"name": self.name, "rank": self.rank, **{k: self.scores.get(k) for k, _, _ in TERMS}}


class StentComparison:
    """The stored reconstructions of ``case_id`` ranked by score, read with the store's session."""

    def __init__(self, store: CaseStore, case_id: str) -> None:
        self.store = store
        self.case_id = case_id
        try:
            ranking = json.loads(store.get_bytes(case_id, RANKING)[0])
        except NotFoundError:
            raise CardiacInputError(
                f"case {case_id!r} has no stent reconstructions: run `cardiac-planning stent` and store "
                "its output folder with store_stent_folder"
            ) from None
        self.metal = {k: v for k, v in ranking.items() if k not in ("ranking", "best")}
        self.rows: list[StentRow] = []
        for rank, entry in enumerate(ranking["ranking"], start=1):
            name = entry["name"]
            _vtp, axis_name, score_name = _files_of(name)
            scores = json.loads(store.get_bytes(case_id, PREFIX + score_name)[0])
            axis = json.loads(store.get_bytes(case_id, PREFIX + axis_name)[0])
            self.rows.append(
                StentRow(name, rank, scores, axis["axis"], axis["radiusProfileMm"], axis.get("metadata", {}))
            )
        self._meshes: dict[str, object] = {}

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rows]

    def row(self, name: str) -> StentRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise CardiacInputError(
            f"case {self.case_id!r} has no stent reconstruction {name!r} ({', '.join(self.names)})"
        )

    def table(self) -> list[dict]:
        """Rows best first, each {name, rank, total, apposition, ...} (None where a term does not
        apply, e.g. apposition without a vessel wall)."""
        return [r.as_dict() for r in self.rows]

    def mesh(self, name: str):
        """The envelope mesh (vtkPolyData, LPS mm) of reconstruction ``name`` (read once, audited)."""
        row = self.row(name)
        if name not in self._meshes:
            data, _info = self.store.get_bytes(self.case_id, row.mesh_object)
            self._meshes[name] = _polydata_from_xml(data, f"{self.case_id}/{row.mesh_object}")
        return self._meshes[name]

    def chosen(self) -> dict | None:
        """The recorded choice ({name, rank, score, user, time, note}) or None."""
        try:
            return json.loads(self.store.get_bytes(self.case_id, CHOICE)[0])
        except NotFoundError:
            return None

    def choose(self, name: str, note: str = "") -> dict:
        """Record ``name`` as the chosen reconstruction of the case (stored encrypted; needs
        ``case.write``; audited with its rank and score). Returns the stored record."""
        row = self.row(name)
        guard = self.store.guard
        target = f"{self.case_id}/{CHOICE}"
        guard.authorize("case.write", target)
        session = getattr(guard, "session", None)
        record = {
            "name": row.name,
            "rank": row.rank,
            "score": row.total,
            "scores": row.scores,
            "user": getattr(session, "username", ""),
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "note": note,
        }
        self.store.put_bytes(self.case_id, CHOICE, json.dumps(record, indent=1).encode(), JSON_TYPE)
        guard.record(
            "case.write",
            target,
            "success",
            f"chose stent reconstruction {row.name} (rank {row.rank}, score {row.total:.1f})",
        )
        logger.info("case %s: stent reconstruction %s chosen", self.case_id, row.name)
        return record
