"""A trial plan in Python (for power users): levels computed in a loop, then validated like YAML.

    workbench trial dry-run examples/trials/laser_levels.py
"""

LASER_SP = "plant1/assembly/weld1/welder/laser_power_setpoint"

plan = {
    "name": "laser power staircase",
    "baseline": {"hold_s": 120, "expected": {LASER_SP: 2500}},
    "responses": ["plant1/assembly/weld1/welder/laser_power", "plant1/assembly/weld1/welder/weld_resistance"],
    "transient_s": 5,
    "sequence": [{"step": {"delta": {LASER_SP: d}}, "name": f"{d:+d} W", "dwell_s": 120} for d in (-150, -50, 50, 150)],
    "arming": {"reason": "weld resistance vs laser power", "expires_minutes": 30},
}
