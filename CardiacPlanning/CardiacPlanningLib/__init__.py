"""CardiacPlanningLib: the pure-Python library behind the SlicerCardiacPlanning modules and CLI.

Never imports ``slicer`` or ``qt`` (only :mod:`CardiacPlanningLib.mrml` does).
"""

__version__ = "0.1.0"
