"""Controlled trials: plans as data, dry runs through the guard, a bluesky-driven runner with
interlocks and guaranteed return to baseline, a crash journal, and effect estimates.

Modules: ``plan`` (YAML/Python plans, validated), ``schedule`` (plan -> guard-respecting writes and
waits), ``dryrun`` (walk the schedule through the pure guard), ``runner`` (:class:`TrialController`),
``devices`` (setpoints as bluesky devices over ``Adapter.write``), ``interlocks`` (hysteresis state
machine + bluesky suspender), ``journal`` (SQLite crash journal), ``results``/``effects`` (xarray,
effect estimates), ``simline`` (the virtual line on its own clock), ``stations`` (adapter for a plan).

How this builds on bluesky's RunEngine (1.15):

* used as is: the RunEngine executes the plan as ``Msg`` generators (``checkpoint``, ``set``/``wait``
  via ``mv``, ``sleep``, ``trigger_and_read``, ``open_run``/``close_run``); ``finalize_wrapper`` runs
  the return to baseline on every exit; ``request_pause``/``resume``/``abort`` are the user commands;
  *pause* interlocks are ``SuspenderBase`` subclasses (suspend, then resume from the last checkpoint,
  with a human-readable justification); the documents (start with user, reason, baseline and DOE seed;
  stop with exit status and reason) are kept on the controller.
* added around it, because bluesky does not cover them: the guard/audit path (every ``set`` is an
  ``Adapter.write``), interlock persistence/hysteresis in *station* time (bluesky's suspender ``sleep``
  is wall time), abort interlocks and a connection watchdog (bluesky suspenders only suspend), and a
  durable journal for crashes (bluesky keeps no state across a SIGKILL).

>>> from data_adapters.trials import load_plan, dry_run, TrialController   # doctest: +SKIP
"""

import sys

# bluesky -> event_model -> jsonschema imports ``rfc3987_syntax`` when it is installed (JupyterLab's
# jupyter-events pulls it in); it compiles a Lark grammar at import, 2-5 s of CPU in every process that loads
# the trial engine, for an IRI format check that event_model never runs (it validates without a
# FormatChecker). Marked absent here, before bluesky is imported; a process that imported it already keeps it.
sys.modules.setdefault("rfc3987_syntax", None)

from data_adapters.trials.dryrun import DryRunReport, check_plan, dry_run  # noqa: F401
from data_adapters.trials.journal import Journal, TrialRecord  # noqa: F401
from data_adapters.trials.plan import Interlock, PlanError, TrialPlan, as_plan, load_plan, parse_plan  # noqa: F401
from data_adapters.trials.results import Recorder, TrialResult  # noqa: F401
from data_adapters.trials.runner import TrialController, TrialError  # noqa: F401
from data_adapters.trials.schedule import compile_plan, restore_moves  # noqa: F401
