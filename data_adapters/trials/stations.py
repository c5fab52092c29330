"""Build the one adapter a trial needs from the line config (the stations holding the plan's tags).

A trial writes and watches through one adapter, so the plan's tags must sit on stations of one
transport: the virtual line (``sim``) or one OPC UA server (``opcua``). Other kinds raise a clear error.
"""

from __future__ import annotations

from workbench.config import LineConfig

from data_adapters.trials.plan import PlanError, TrialPlan


def trial_adapter(line: LineConfig, plan: TrialPlan, *, audit, speed: float | None = None, events=None,
                  virtual: bool = False):
    """An unconnected adapter over the stations of ``plan``'s tags; returns (adapter, time_scale).

    ``virtual`` (virtual line only): the line's clock moves only with the trial; run the controller on
    :func:`trial_clock` (else it is ignored: a real station keeps its own time)."""
    paths = [*plan.setpoints(), *plan.responses, *(il.tag for il in plan.interlocks)]
    stations = {line.station_of(p).name: line.station_of(p) for p in paths}
    kinds = {s.adapter.kind for s in stations.values()}
    if kinds == {"sim"}:
        from data_adapters.trials.simline import trial_sim_adapter

        first = next(iter(stations.values())).adapter
        speed = speed or first.speed
        return trial_sim_adapter(line, seed=first.seed, speed=speed, audit=audit, events=events,
                                 virtual=virtual), speed
    if kinds == {"opcua"}:
        from data_adapters.opcua import opcua_adapter

        urls = {s.adapter.url for s in stations.values()}
        if len(urls) != 1:
            raise PlanError(f"{plan.source}: the plan's tags sit on several OPC UA servers {sorted(urls)}; "
                            "a trial uses one server")
        settings = next(iter(stations.values())).adapter
        tags = [t for s in stations.values() for t in s.tags]
        return opcua_adapter(tags, settings, audit=audit, name="trial (opcua)", reconnect_s=0.25), 1.0
    raise PlanError(f"{plan.source}: the plan's tags sit on stations of adapter kind(s) {sorted(kinds)}; "
                    "trials run on one sim or one opcua station set")


def trial_clock(adapter, time_scale: float):
    """The station clock for a controller on ``adapter``: the virtual line's own clock paced at
    ``time_scale`` when the adapter was built with ``virtual=True``, else None (the adapter's clock)."""
    if getattr(adapter.backend, "virtual", False):
        from data_adapters.trials.simline import VirtualLineClock

        return VirtualLineClock(adapter, pace=time_scale)
    return None


__all__ = ["trial_adapter", "trial_clock"]
