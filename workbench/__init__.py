"""Line Workbench: process engineering for lithium-ion cell production lines.

The analysis library: units, schemas, process models, SPC, change points, traceability and history.
It never talks to stations; that is :mod:`data_adapters`.
"""

__version__ = "0.1.0"
