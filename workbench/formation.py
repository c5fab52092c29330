"""Formation analysis, public entry point: ``import workbench.formation as fm``.

Readers for every common cycler export (:mod:`workbench.cyclers`: BDF, Novonix, Maccor, Neware, BioLogic,
Arbin, PEC; repairs listed in the curve's attrs), capacity/CE per cycle, dQ/dV with stated
smoothing, DCIR from pulses, K-value from OCV rests, grading and rack x channel imbalance.
See :mod:`workbench.models.formation` for the definitions.

>>> import workbench.formation as fm
>>> "dqdv" in fm.__all__
True
"""

from workbench.models.formation import *  # noqa: F401,F403
from workbench.models.formation import __all__  # noqa: F401
