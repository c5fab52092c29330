"""`workbench formation FILE...`: per-cycle capacity and CE (plus DCIR / K-value when the record has
them) from cycler files (Battery Data Format CSV or Novonix export)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("formation", help="summarise cycler files: capacity, CE, DCIR, K-value per cell")
    p.add_argument("files", nargs="+", help="cycler files (*.bdf.csv or Novonix .csv exports)")
    p.add_argument("--first", choices=["auto", "charge", "discharge"], default="auto",
                   help="direction that opens a cycle (discharge for graphite-vs-Li half cells; default: auto)")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from workbench.models import formation as fm

    for path in args.files:
        curve = fm.read_curve(path)
        s = fm.cycle_summary(curve, first=args.first)
        print(f"{path}: cell {curve.attrs.get('cell_id', '?')}, {curve.sizes['sample']} samples, "
              f"{float(curve.time[-1]) / 3600:.2f} h, cycles open with {s.attrs['first_direction']}")
        print(f"  {'cycle':>5} {'charge Ah':>12} {'discharge Ah':>13} {'CE':>8} {'loss Ah':>10}")
        for c in s.cycle.values:
            r = s.sel(cycle=c)
            print(f"  {int(c):>5} {float(r.charge_capacity):>12.6f} {float(r.discharge_capacity):>13.6f} "
                  f"{float(r.coulombic_efficiency):>8.4f} {float(r.loss):>10.6f}")
        try:
            d = fm.dcir(curve)
            for k in range(d.sizes["pulse"]):
                vals = ", ".join(f"{float(dt):g} s: {float(v):.4f}" for dt, v in zip(d.dt.values, d.dcir.values[k]))
                print(f"  DCIR pulse {k + 1} at SOC {float(d.soc[k]):.0f} %: {vals} mohm")
        except fm.NoPulseError:
            print("  DCIR: no current pulse in the record")
        try:
            k = fm.k_value(curve)
            print(f"  K-value: {float(k.k_value):.3f} mV/day")
        except fm.RestTooShortError as exc:
            print(f"  K-value: not measurable ({str(exc).split(': ', 1)[-1][:90]}...)")
        if np.isnan(s.coulombic_efficiency.values).all():
            print("  CE: no cycle has both a charge and a discharge (record ends mid-cycle)")
    return 0
