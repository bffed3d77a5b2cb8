"""Editing from the linked phase views on the real Slicer core (headless): a stroke in a view's display
coordinates lands on that view's slice, changes the phase that view shows (and only it), shows in
every view of that phase, and is saved to the encrypted store; undo and smooth follow."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from security_fixtures import FakeClock, make_ring

from CardiacPlanningLib.errors import CardiacInputError
from CardiacPlanningLib.imaging.volume import Volume
from CardiacPlanningLib.security.workstation import Workstation

pytestmark = pytest.mark.mrml
slicer = pytest.importorskip("slicer")

from CardiacPlanningLib.mrml import (  # noqa: E402
    build_phase_views,
    labelmaps_to_segmentation_sequence,
    new_scene,
    segmentation_to_labelmap,
    stream_phases_to_sequence,
)
from CardiacPlanningLib.web.features.view_editing import ViewEditing  # noqa: E402

PW, NEW_PW = "Initial-Passw0rd", "Changed-Passw0rd-1"
SPACING, ORIGIN = (0.8, 0.8, 1.5), (-12.0, -12.0, -9.0)
SHAPE = (12, 30, 30)


def _seg(k: int) -> np.ndarray:
    a = np.zeros(SHAPE, np.uint8)
    a[3:9, 8:22, 8 + k : 22 + k] = 6  # the block moves by one voxel per phase
    return a


@pytest.fixture()
def editing(tmp_path):
    ws = Workstation(tmp_path, make_ring(tmp_path), clock=FakeClock(), hash_iterations=1000)
    ws.users.add_user(None, "sys", "system_admin", PW)
    ws.users.add_user(ws.login("sys", PW), "doc", "clinician", PW)
    doc = ws.login("doc", PW)
    ws.users.change_password(doc, PW, NEW_PW)
    store = ws.store(doc)
    names = [f"seg/phase_{k:02d}" for k in range(3)]
    for k, name in enumerate(names):
        store.put_volume("C", name, Volume(_seg(k), SPACING, ORIGIN))
    scene = new_scene()
    values = ["0%", "40%", "80%"]
    cts = [Volume(np.full(SHAPE, 100 * k, np.int16), SPACING, ORIGIN) for k in range(3)]
    seq, _browser = stream_phases_to_sequence(zip(values, cts), scene, "ct")
    segs = labelmaps_to_segmentation_sequence(
        (Volume(_seg(k), SPACING, ORIGIN) for k in range(3)), values, scene, "seg"
    )
    views = build_phase_views(seq, [0, 2], scene, None, segs, with_3d=False)
    viewer = SimpleNamespace(
        case=SimpleNamespace(case_id="C", seg_objects=names),
        phase_views=views,
        segmentation_sequence=segs,
        scene=scene,
        show_step=views.show_step,
    )
    yield ViewEditing(viewer, lambda: store), store, views
    ws.close()


def _shown(views, k: int) -> np.ndarray:
    return segmentation_to_labelmap(views.segmentation_node(k)).array


def test_stroke_in_a_view_edits_the_phase_it_shows_and_saves(editing):
    ed, store, views = editing
    dims = views.slice_nodes[1].GetDimensions()
    xy = [(dims[0] * 0.3, dims[1] * 0.5), (dims[0] * 0.45, dims[1] * 0.5)]
    lps = ed.display_to_lps(1, xy)
    # the points lie on view 2's slice plane: one axial position (LPS z) for both
    assert lps[0, 2] == pytest.approx(lps[1, 2]) and lps[0, 1] == pytest.approx(lps[1, 1])
    k_layer = int(np.rint((lps[0, 2] - ORIGIN[2]) / SPACING[2]))
    before = _seg(2)
    n = ed.stroke(1, lps, "paint", 2, 2.0)
    edited = ed.editors[2].seg.array
    changed = np.argwhere(edited != before)
    assert n == len(changed) > 10 and set(changed[:, 0]) == {k_layer}  # one slice only
    assert set(np.unique(edited[edited != before])) == {2}
    assert np.array_equal(_shown(views, 1), edited)  # the view shows the edit
    assert np.array_equal(_shown(views, 0), _seg(0))  # the other phase is untouched
    assert ed.status()["dirty"] and ed.status()["phase"] == 2
    assert np.array_equal(store.get_volume("C", "seg/phase_02").array, before)
    assert ed.save() == [2]
    assert np.array_equal(store.get_volume("C", "seg/phase_02").array, edited)
    assert not ed.status()["dirty"]
    ed.undo()
    assert np.array_equal(_shown(views, 1), before)
    views.show_step(2)  # cine: view 1 now shows phase 2 and follows the sequence
    assert views.shown_phases()[0] == 2 and np.array_equal(_shown(views, 0), before)
    assert ed.smooth(6, 1.0) >= 0 and ed.status()["can_undo"]


def test_bad_strokes_are_refused(editing):
    ed, _store, _views = editing
    with pytest.raises(CardiacInputError, match="outside the image"):
        ed.stroke(0, [[500.0, 500.0, 0.0]], "paint", 6, 2.0)
    with pytest.raises(CardiacInputError, match="edit tool"):
        ed.stroke(0, [[0.0, 0.0, 0.0]], "cut", 6, 2.0)
    with pytest.raises(CardiacInputError, match="choose the segment"):
        ed.stroke(0, [[0.0, 0.0, 0.0]], "paint", None, 2.0)
    assert ed.view_index("Phase2") == 1 and ed.view_index("Phase7") is None
