"""Name the blood-pool pieces: chambers by a shape prior, vessels by connectivity.

The prior is the constellation of cavity centroids of a real CT-derived four-chamber heart (Rodero
et al., PLoS Comput Biol 2021, virtual cohort case 01, CC BY 4.0; numbers derived from the cavity
surfaces of its mesh as shipped in ansys-health-heart 0.16.2), in LPS mm relative to the mean of the
four cavity centroids. Patients lie supine in cardiac CT, so the prior needs only a translation and
an isotropic scale, found by trying every (piece, chamber) hypothesis and refining it with optimal
one-to-one matching of the largest pieces (Hungarian algorithm).
"""

from __future__ import annotations

import heapq
import itertools
import logging

import numpy as np
from scipy.optimize import linear_sum_assignment

from .. import labels as lbl
from .regions import Region

logger = logging.getLogger(__name__)

# cavity / proximal vessel centroids (LPS mm) relative to the mean of the four cavity centroids
PRIOR = {
    lbl.LV_BLOOD_POOL: np.array([38.2, 1.0, -15.1]),
    lbl.RV: np.array([5.0, -29.4, -9.9]),
    lbl.LA: np.array([-8.5, 27.7, 27.0]),
    lbl.RA: np.array([-34.7, 0.7, -2.0]),
    lbl.AORTA: np.array([-11.1, -2.1, 35.5]),
    lbl.PULMONARY_ARTERY: np.array([12.8, -13.5, 52.5]),
}
PRIOR_ML = {lbl.LV_BLOOD_POOL: 120.0, lbl.RV: 186.0, lbl.LA: 68.0, lbl.RA: 111.0}
CHAMBERS = (lbl.LV_BLOOD_POOL, lbl.RV, lbl.LA, lbl.RA)
# a piece further than REACH x (equivalent-sphere radius of the chamber) from its centroid is a vessel
REACH = 1.4
ROOT_REACH_MM = 35.0  # aortic / pulmonary root pieces grown with the chambers lie this close to the prior
ROOT_SOURCE = {lbl.AORTA: lbl.LV_BLOOD_POOL, lbl.PULMONARY_ARTERY: lbl.RV}
ROOT_HU_MM = 30.0  # mm of prior distance that a relative HU difference of 100 % costs
VEIN_START_COST = 0.2  # in units of a fully open contact
PV_HU_FRACTION = 0.15  # a pulmonary vein differs from the LA by at most this fraction of its HU
VESSEL_REACH_MM = 35.0  # a great-artery piece found by position lies this close to its prior
DESCENDING_MIN_MM = 50.0  # vertical extent of a descending-aorta column
HU_TOLERANCE = 100.0  # HU difference that costs as much as a fully open contact
CHAMBER_OPEN_CONTACT = 0.5  # contact area / smaller lumen cross-section for a chamber to continue
MIN_OPEN_CONTACT = 0.25  # contact area / smaller lumen cross-section for a vessel to continue
# left- and right-heart blood differ in enhancement in most phases (the contrast bolus reaches the
# right heart first and is diluted in the lungs); when their cores differ by at least this fraction of
# their mean HU, a vessel piece enhanced like the other circulation is not taken by an artery or vein
# of this one (the pulmonary artery runs against the aorta and the pulmonary veins)
CIRCULATION_GAP = 0.2
FINE_BASIN_MM = 4.5  # basins of an LA piece re-split for a fused aortic root: peaks this far apart
MIN_ROOT_RADIUS_MM = 8.0  # a carved-out aortic root holds a ball of at least this radius
PV, SVC, IVC = (
    lbl.value_of("pulmonary_veins"),
    lbl.value_of("superior_vena_cava"),
    lbl.value_of("inferior_vena_cava"),
)


def _fit(cores: list[Region], start: np.ndarray) -> tuple[float, np.ndarray, float, list[int]]:
    """Refine centre/scale from a start centre; return (cost, centre, scale, core index per chamber)."""
    pos = np.array([r.centroid for r in cores])
    proto = np.array([PRIOR[c] for c in CHAMBERS])
    centre, scale = start.copy(), 1.0
    pick: list[int] = []
    cost = np.inf
    for _ in range(6):
        d = np.linalg.norm(pos[:, None, :] - (centre + scale * proto)[None], axis=2)
        rows, cols = linear_sum_assignment(d)
        if len(rows) < len(CHAMBERS):
            return np.inf, centre, scale, []
        order = np.argsort(cols)
        pick = [int(rows[i]) for i in order]
        cost = float(d[rows, cols].sum()) / scale
        chosen = pos[pick]
        centre = chosen.mean(0)
        spread = np.linalg.norm(chosen - centre, axis=1).sum() / np.linalg.norm(proto, axis=1).sum()
        scale = float(np.clip(spread, 0.7, 1.4))
    return cost, centre, scale, pick


def find_chambers(regions: list[Region], voxel_ml: float) -> tuple[dict[int, int], np.ndarray, float]:
    """Core piece of each chamber: {piece id: label}, the prior centre (LPS mm) and scale."""
    cores = [r for r in regions if r.radius >= 11.0 and r.ml(voxel_ml) >= 8.0]
    cores = sorted(cores, key=lambda r: -r.voxels)[:10]
    if len(cores) < len(CHAMBERS):
        return {}, np.zeros(3), 1.0
    best = (np.inf, np.zeros(3), 1.0, [])
    for r, c in itertools.product(cores, CHAMBERS):
        trial = _fit(cores, r.centroid - PRIOR[c])
        if trial[0] < best[0]:
            best = trial
    cost, centre, scale, pick = best
    logger.info("chamber prior fit: cost %.1f mm, scale %.2f, centre %s", cost, scale, np.round(centre, 1))
    return {cores[i].rid: c for i, c in zip(pick, CHAMBERS)}, centre, scale


def name_regions(regions: list[Region], voxel_ml: float, spacing_mm: float) -> dict[int, int]:
    """Label value for every piece connected to the chambers (others are left out).

    Phase 1 grows the chambers from their cores through contacts, nearest to the prior first, up to
    ``REACH`` times the chamber's equivalent-sphere radius. Phase 2 starts the aorta at pieces with an
    open contact to the LV, the pulmonary artery at the RV, pulmonary veins at the LA and the caval
    veins at the RA, and follows each vessel through open contacts (at least a quarter of the
    smaller lumen's cross-section), widest contact first, so that vessels that merely touch
    (partial volume) are not merged."""
    named, centre, scale = find_chambers(regions, voxel_ml)
    if not named:
        return {}
    by_id = {r.rid: r for r in regions}
    face_mm2 = spacing_mm**2

    def dist(r: Region, label: int) -> float:
        return float(np.linalg.norm(r.centroid - (centre + scale * PRIOR[label]))) / scale

    def open_contact(a: Region, b: Region) -> float:
        """Contact area over the smaller lumen cross-section."""
        lumen = np.pi * min(a.radius, b.radius) ** 2
        return a.neighbours.get(b.rid, 0) * face_mm2 / max(lumen, 1e-6)

    def continuation(r: Region, via: Region) -> float:
        """Lower is better: wide contact, and similar enhancement (left and right heart blood differ
        in HU in most phases, which tells touching vessels apart)."""
        return -min(open_contact(r, via), 1.0) + abs(r.mean_hu - via.mean_hu) / HU_TOLERANCE

    # a descending aorta column first, so that no chamber takes it
    core_hu = {lab: by_id[r].mean_hu for r, lab in named.items()}
    compatible = _circulation_check({lab: by_id[r].core_hu for r, lab in named.items()})
    named.update(_descending_aorta(regions, named, centre, scale, core_hu[lbl.LV_BLOOD_POOL]))
    # phase 1: chambers, and the aortic / pulmonary roots leaving the LV / RV, nearest to the prior
    # first (a root that also touches an atrium goes to whichever prior is nearer)
    heap: list[tuple[float, int, int]] = []
    # the aortic root may open onto the LA piece when the LVOT joined it (partial volume at the
    # anterior mitral leaflet); it then still goes to the aorta if nearer to the aorta's prior
    outflow = {lbl.LV_BLOOD_POOL: lbl.AORTA, lbl.LA: lbl.AORTA, lbl.RV: lbl.PULMONARY_ARTERY}

    def reach(lab: int) -> float:
        if lab in CHAMBERS:
            return REACH * (3.0 * PRIOR_ML[lab] * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
        return ROOT_REACH_MM

    def push(rid: int) -> None:
        lab = named[rid]
        options = {lab, outflow[lab]} if lab in outflow else {lab}
        for nb in by_id[rid].neighbours:
            if nb in named or open_contact(by_id[nb], by_id[rid]) < CHAMBER_OPEN_CONTACT:
                continue  # chambers and roots continue only through wide openings
            for option in options & (set(CHAMBERS) | {lbl.AORTA, lbl.PULMONARY_ARTERY}):
                if not compatible(by_id[nb], option):
                    continue
                cost = dist(by_id[nb], option)
                # a root is enhanced like the ventricle it leaves, and left-heart blood (mixed in
                # the lungs) is uniform, unlike the right heart's streaming caval inflow
                ref_label = ROOT_SOURCE.get(option, option)
                if ref_label in (lbl.LV_BLOOD_POOL, lbl.LA) or option in ROOT_SOURCE:
                    ref = core_hu[ref_label]
                    cost += ROOT_HU_MM * abs(by_id[nb].mean_hu - ref) / max(abs(ref), 1.0)
                heapq.heappush(heap, (cost, nb, option))

    for rid in list(named):
        if named[rid] in CHAMBERS:
            push(rid)
    while heap:
        d, rid, lab = heapq.heappop(heap)
        if rid in named or d > reach(lab):
            continue
        named[rid] = lab
        push(rid)
    hu = {lab: np.mean([by_id[r].mean_hu for r, v in named.items() if v == lab]) for lab in CHAMBERS}
    # phase 2: vessels leaving the chambers
    start = {
        lbl.LV_BLOOD_POOL: lbl.AORTA,
        lbl.RV: lbl.PULMONARY_ARTERY,
        lbl.LA: PV,
        lbl.AORTA: lbl.AORTA,
        lbl.PULMONARY_ARTERY: lbl.PULMONARY_ARTERY,
    }
    ra_z = centre[2] + scale * PRIOR[lbl.RA][2]
    for rid, lab in list(named.items()):
        for nb in by_id[rid].neighbours:
            if nb in named:
                continue
            r = by_id[nb]
            vessel = start.get(lab) if lab != lbl.RA else (SVC if r.centroid[2] > ra_z else IVC)
            c = open_contact(r, by_id[rid])
            if vessel == PV and abs(r.mean_hu - hu[lbl.LA]) > PV_HU_FRACTION * abs(hu[lbl.LA]):
                continue  # pulmonary veins carry left-heart blood: enhanced like the LA
            if vessel is not None and c >= MIN_OPEN_CONTACT and compatible(r, vessel):
                # an artery that is already running wins ties against a vein starting at an atrium
                start_cost = VEIN_START_COST if vessel in (PV, SVC, IVC) else 0.0
                heapq.heappush(heap, (continuation(r, by_id[rid]) + start_cost, nb, vessel))

    def drain() -> None:
        while heap:
            _, rid, lab = heapq.heappop(heap)
            if rid in named:
                continue
            named[rid] = lab
            for nb in by_id[rid].neighbours:
                if (
                    nb not in named
                    and open_contact(by_id[nb], by_id[rid]) >= MIN_OPEN_CONTACT
                    and compatible(by_id[nb], lab)
                ):
                    heapq.heappush(heap, (continuation(by_id[nb], by_id[rid]), nb, lab))

    drain()
    # great arteries behind a closed valve (no open contact): the pieces that best match the prior
    for rid, vessel in _great_artery_seeds(regions, named, dist, hu).items():
        if not compatible(by_id[rid], vessel):
            continue
        heapq.heappush(heap, (-1.0, rid, vessel))
    drain()
    return named


def _circulation_check(core_hu: dict[int, float]):
    """``compatible(region, label)``: False for an LV, LA, aorta or pulmonary-vein piece enhanced like
    the right heart, or an RV or pulmonary-artery piece enhanced like the left heart (interior HU
    nearer the other ventricle's core), when the ventricles differ by at least CIRCULATION_GAP."""
    left, right = core_hu.get(lbl.LV_BLOOD_POOL), core_hu.get(lbl.RV)
    if left is None or right is None or abs(left - right) < CIRCULATION_GAP * 0.5 * abs(left + right):
        return lambda region, label: True
    logger.info(
        "left/right heart enhancement differ (%.0f / %.0f HU): pieces kept to their side", left, right
    )
    # the RA is left out: its caval inflow streams with undiluted contrast or unenhanced blood
    side = {lab: left for lab in (lbl.LV_BLOOD_POOL, lbl.LA, lbl.AORTA, PV)}
    side.update({lbl.RV: right, lbl.PULMONARY_ARTERY: right})
    other = {lab: (right if ref == left else left) for lab, ref in side.items()}

    def compatible(region: Region, label: int) -> bool:
        if label not in side:
            return True
        return abs(region.core_hu - side[label]) <= abs(region.core_hu - other[label])

    return compatible


def _descending_aorta(regions: list[Region], named: dict[int, int], centre, scale: float, lv_hu: float):
    """Pieces of a descending aorta: a vertical column (>= DESCENDING_MIN_MM) of contact-connected
    unnamed pieces (at least three, stacked: they rise more than they spread) behind the atria,
    enhanced like the LV and homogeneous (HU interquartile range; bone is not: its cortex and
    marrow differ by hundreds of HU, while wall calcium of an aorta touches few voxels)."""
    ok = {
        r.rid: r
        for r in regions
        if r.rid not in named
        and 6.0 <= r.radius <= 22.0
        and abs(r.mean_hu - lv_hu) <= 0.25 * abs(lv_hu)
        and r.hu_iqr <= max(0.3 * abs(lv_hu), 60.0)
        and (r.centroid[1] - centre[1]) / scale >= 40.0
    }
    out: dict[int, int] = {}
    seen: set[int] = set()
    for rid in ok:
        if rid in seen:
            continue
        group, stack = [], [rid]
        seen.add(rid)
        while stack:
            cur = stack.pop()
            group.append(ok[cur])
            for nb in ok[cur].neighbours:
                if nb in ok and nb not in seen:
                    seen.add(nb)
                    stack.append(nb)
        top = max(r.centroid[2] + r.z_extent_mm / 2 for r in group)
        bottom = min(r.centroid[2] - r.z_extent_mm / 2 for r in group)
        xyz = np.array([r.centroid for r in group])
        rise, spread = np.ptp(xyz[:, 2]), np.ptp(xyz[:, :2], axis=0).max()
        if len(group) >= 3 and top - bottom >= DESCENDING_MIN_MM and rise >= 1.5 * spread and spread <= 40.0:
            out.update({r.rid: lbl.AORTA for r in group})
    return out


def _great_artery_seeds(regions: list[Region], named: dict[int, int], dist, hu: dict) -> dict[int, int]:
    """Unnamed pieces that best match the aorta / pulmonary artery priors (position, and HU like the
    LV / RV blood), one each, within VESSEL_REACH_MM; {} entries for vessels already started."""
    vessels = [v for v in (lbl.AORTA, lbl.PULMONARY_ARTERY) if v not in named.values()]
    cands = [r for r in regions if r.rid not in named and r.radius >= 7.0]
    if not vessels or not cands:
        return {}
    ref_hu = {lbl.AORTA: hu[lbl.LV_BLOOD_POOL], lbl.PULMONARY_ARTERY: hu[lbl.RV]}
    cost = np.array(
        [
            [dist(r, v) + 30.0 * abs(r.mean_hu - ref_hu[v]) / max(abs(ref_hu[v]), 1.0) for v in vessels]
            for r in cands
        ]
    )
    rows, cols = linear_sum_assignment(cost)
    return {cands[i].rid: vessels[j] for i, j in zip(rows, cols) if cost[i, j] <= VESSEL_REACH_MM}


def split_fused_outflow(
    ids: np.ndarray,
    regions: list[Region],
    named: dict[int, int],
    pool: np.ndarray,
    image: np.ndarray,
    spacing_mm: float,
    to_lps,
    voxel_ml: float,
) -> tuple[np.ndarray, list[Region]] | None:
    """Carve the aortic root out of an LA piece it was fused to, or None if there is none.

    The LV has two outlets, the mitral valve onto the LA and the aortic valve onto the root. Where no
    piece next to the LV was named aorta but an LA piece is, the LVOT and root lie inside that LA piece:
    the aortic root touches the LA across the aorto-mitral curtain and the transverse sinus, and
    partial volume can fuse them without any neck (both carry left-heart blood, so no HU step either).
    The piece is then re-split into fine basins of the distance map, and the basins nearer the
    aorta's prior than the LA's (the root lies anterior to the LA), contact-connected to the LV, form
    a piece of their own; the caller names the pieces again."""
    by_id = {r.rid: r for r in regions}
    lvs = [rid for rid, lab in named.items() if lab == lbl.LV_BLOOD_POOL]
    if len(lvs) != 1:
        return None
    lv = by_id[lvs[0]]
    if any(named.get(nb) == lbl.AORTA for nb in lv.neighbours):
        return None
    las = [nb for nb in lv.neighbours if named.get(nb) == lbl.LA]
    if not las:
        return None
    la = max(las, key=lambda nb: lv.neighbours[nb])
    _, centre, scale = find_chambers(regions, voxel_ml)
    prior_la = centre + scale * PRIOR[lbl.LA]
    prior_ao = centre + scale * PRIOR[lbl.AORTA]
    from scipy import ndimage as ndi

    from .necks import distance_basins

    piece = ids == la
    dist = ndi.distance_transform_edt(pool) * spacing_mm
    sub = distance_basins(piece, dist, FINE_BASIN_MM, spacing_mm, min_depth_mm=4.0)
    if sub is None:
        return None
    n = int(sub.max())
    index = np.arange(1, n + 1)
    counts = np.bincount(sub.ravel(), minlength=n + 1)[1:]
    zz, yy, xx = np.indices(ids.shape, sparse=True)
    cen = np.stack(
        [ndi.sum(np.broadcast_to(c, ids.shape), sub, index) / np.maximum(counts, 1) for c in (xx, yy, zz)],
        axis=1,
    )
    lps = to_lps(cen)
    # the root runs from the LV towards the aorta's prior, the mitral funnel and LA towards the LA's
    aortic = {
        int(i)
        for i, c in zip(index, lps)
        if _to_segment(c, lv.centroid, prior_ao) < _to_segment(c, lv.centroid, prior_la)
    }
    # basins of the aortic side that open onto the LV, and those joined to them
    lv_side = ndi.binary_dilation(ids == lv.rid) & piece
    stack = [int(i) for i in np.unique(sub[lv_side]) if i in aortic]
    root: set[int] = set(stack)
    while stack:
        cur = stack.pop()
        grown = ndi.binary_dilation(sub == cur) & piece
        for nb in np.unique(sub[grown]):
            if int(nb) in aortic and int(nb) not in root:
                root.add(int(nb))
                stack.append(int(nb))
    part = np.isin(sub, list(root))
    rest = piece & ~part
    if not part.any() or dist[part].max() < MIN_ROOT_RADIUS_MM or not (lv_side & rest).any():
        return None
    if dist[rest].max() < dist[part].max():
        return None  # the LA keeps its body, the largest ball
    out = ids.copy()
    out[part] = int(ids.max()) + 1
    logger.info(
        "aortic root (%.1f ml) carved out of LA piece %d (no aortic outlet next to the LV)",
        part.sum() * voxel_ml,
        la,
    )
    from .regions import describe_pieces

    return out, describe_pieces(out, pool, image, dist, spacing_mm, to_lps)


def _to_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance (mm) from point ``p`` to the segment from ``a`` to ``b``."""
    d = b - a
    t = float(np.clip((p - a) @ d / max(float(d @ d), 1e-9), 0.0, 1.0))
    return float(np.linalg.norm(p - a - t * d))
