"""Controlled trials: plans as data, dry runs through the guard, a bluesky-driven runner with
interlocks and guaranteed return to baseline, a crash journal, and effect estimates.

>>> from data_adapters.trials import load_plan, dry_run, TrialController   # doctest: +SKIP
"""

from data_adapters.trials.dryrun import DryRunReport, check_plan, dry_run  # noqa: F401
from data_adapters.trials.journal import Journal, TrialRecord  # noqa: F401
from data_adapters.trials.plan import Interlock, PlanError, TrialPlan, as_plan, load_plan, parse_plan  # noqa: F401
from data_adapters.trials.results import Recorder, TrialResult  # noqa: F401
from data_adapters.trials.runner import TrialController, TrialError  # noqa: F401
from data_adapters.trials.schedule import compile_plan, restore_moves  # noqa: F401
