"""What a finished trial hands over: its estimates (effects, gains, DOE main effects, each with a CI),
the xarray result as NetCDF, and a short HTML report naming the plan, who armed it, why, the audit
chain's check and the estimates. Pure functions over a :class:`data_adapters.trials.TrialResult`.
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from datetime import UTC, datetime

import pandas as pd

COLUMNS = ["response", "segment", "what", "estimate", "ci_low", "ci_high", "units", "n"]


def estimates(result) -> pd.DataFrame:
    """One row per response and change: the ``effect`` (settled mean minus baseline), for a change of
    one setpoint also the ``gain`` (effect per unit of setpoint change, same CI scaled), and for a DOE
    the ``main effect`` of each factor (highest minus lowest level, CI over the runs)."""
    rows = []
    eff = result.effects()
    levels = {s["name"]: s["levels"] for s in result.recorder.segments}
    sp_units = result.units
    for r in eff.itertuples():
        if r.kind == "doe" or not math.isfinite(r.effect):
            continue
        rows.append([r.response, r.segment, "effect", r.effect, r.ci_low, r.ci_high, r.units, int(r.n)])
        moved = {p: v - result.baseline[p] for p, v in levels.get(r.segment, {}).items()
                 if p in result.baseline and not math.isclose(v, result.baseline[p], abs_tol=1e-12)}
        if len(moved) == 1:
            (p, d), = moved.items()
            lo, hi = sorted((r.ci_low / d, r.ci_high / d))
            rows.append([r.response, r.segment, "gain", r.effect / d, lo, hi,
                         f"{r.units} per {sp_units.get(p, '')}".strip(), int(r.n)])
    me = result.main_effects()
    for r in me.itertuples() if not me.empty else ():
        rows.append([r.response, f"{r.factor.rsplit('/', 1)[-1]} {r.low:g}→{r.high:g}", "main effect", r.effect,
                     r.ci_low, r.ci_high, result.units.get(r.response, ""), int(r.runs_low + r.runs_high)])
    return pd.DataFrame(rows, columns=COLUMNS)


def netcdf_bytes(result) -> bytes:
    """The trial's xarray result (responses, setpoints, segment labels; attrs: plan, trial, state) as NetCDF."""
    ds = result.to_xarray()
    fd, path = tempfile.mkstemp(suffix=".nc")
    os.close(fd)
    try:
        ds.to_netcdf(path)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


def html_report(*, result, session, audit_check, rows: pd.DataFrame, plan_text: str = "",
                restored: bool | None = None) -> str:
    """A short, self-contained HTML report (no external resources)."""
    e = html.escape
    plan = result.plan
    est = "".join(f"<tr><td>{e(r.response)}</td><td>{e(str(r.segment))}</td><td>{e(r.what)}</td>"
                  f"<td>{r.estimate:.4g}</td><td>[{r.ci_low:.4g}, {r.ci_high:.4g}]</td><td>{e(r.units)}</td>"
                  f"<td>{r.n}</td></tr>" for r in rows.itertuples()) or "<tr><td colspan=7>no estimates</td></tr>"
    base = "".join(f"<li>{e(p)} = {v:g} {e(result.units.get(p, ''))}</li>" for p, v in result.baseline.items())
    chain = f"{'intact' if audit_check.ok else 'BROKEN'} — {audit_check.message}"
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    restored_txt = "" if restored is None else f"<p>Baseline restored: <b>{'yes' if restored else 'NO'}</b></p>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Trial {e(result.trial_id or '')}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:3px 8px;text-align:left}}pre{{background:#f4f4f4;padding:1em}}</style></head>
<body><h1>Trial report: {e(plan.name)}</h1>
<p>Trial <code>{e(result.trial_id or '')}</code> · state <b>{e(result.state)}</b> ({e(result.exit_reason)}) ·
written {now}</p>
<p>Armed by <b data-role="armed-by">{e(session.user)}</b>; reason: <i data-role="reason">{e(session.reason)}</i></p>
{restored_txt}
<p>Audit chain: <span data-role="audit-chain">{e(chain)}</span></p>
<h2>Baseline</h2><ul>{base}</ul>
<h2>Estimates (95 % confidence intervals)</h2>
<table><tr><th>response</th><th>change</th><th>what</th><th>estimate</th><th>CI</th><th>units</th><th>n</th></tr>
{est}</table>
<h2>Plan</h2><pre>{e(plan_text or plan.model_dump_json(indent=2))}</pre>
</body></html>"""


__all__ = ["estimates", "html_report", "netcdf_bytes"]
