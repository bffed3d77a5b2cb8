"""The ``cardiac-planning`` command: the same pipeline as the Slicer modules, without the GUI."""
