"""4D cardiac CT: import of multi-phase studies, propagation of a reference segmentation to every phase
by deformable registration, volume curves and ejection fraction, multi-phase view selection.

* :mod:`.phase_io` -- :func:`open_phases` (DICOM folder, folder of NIfTI/NRRD phases, Slicer
  ``.seq.nrrd``) gives a lazily loaded, cycle-ordered :class:`PhaseSeries`; :func:`write_phases`.
* :mod:`.register` -- reference -> phase multi-resolution demons registration (SimpleITK).
* :mod:`.warp` -- warping label maps (linear interpolation of one-hot masks) and points.
* :mod:`.curves` -- label volumes per phase, end-diastole/end-systole, ejection fraction.
* :mod:`.propagate` -- the whole propagation, one phase in memory at a time.
* :mod:`.views` -- which phases to show in which slice view (pure part of the multi-window layout).
"""
