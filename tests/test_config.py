"""The line config: the shipped default loads; bad configs fail on one line naming file and key."""

from pathlib import Path

import pytest
import yaml

from workbench.config import ConfigError, default_config_path, load_line_config


def write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(default_config_path().read_text())
    mutate(raw)
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_default_config_expands_lanes_and_channels():
    line = load_line_config(default_config_path())
    lanes = [p for p in line.tags if "/gauge/areal_mass_lane" in p]
    assert len(lanes) == 24 and lanes[0].endswith("lane01") and lanes[-1].endswith("lane24")
    assert len([p for p in line.tags if p.endswith("/voltage")]) == 64
    assert set(line.writable_tags()) == {
        "plant1/electrode/coat1/coater/pump_rate_setpoint",
        "plant1/electrode/coat1/coater/line_speed_setpoint",
        "plant1/dryroom/room1/ahu/frost_point_setpoint",
        "plant1/assembly/weld1/welder/laser_power_setpoint",
    }
    assert line.tag("plant1/dryroom/room1/hygrometer/dew_point_s4").reports == "dew_point"


def one_line_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_line_config(path)
    msg = str(info.value)
    assert msg.startswith(str(path) + ":"), msg
    return msg


def test_unknown_key_is_named(tmp_path):
    path = write(tmp_path, lambda r: r["stations"][0]["tags"][1].update(unit="g/min"))
    msg = one_line_error(path)
    assert "stations[0](coating).tags[1](plant1/electrode/coat1/coater/pump_rate).unit: unknown key" in msg


def test_wrong_unit_is_named(tmp_path):
    path = write(tmp_path, lambda r: r["stations"][2]["tags"][0].update(units="micro-ohms"))
    msg = one_line_error(path)
    assert "stations[2](welding).tags[0](plant1/assembly/weld1/welder/weld_resistance).units" in msg
    assert "unknown unit 'micro-ohms'" in msg


def test_min_greater_than_max_is_named(tmp_path):
    def swap(r):
        r["stations"][2]["tags"][3]["setpoint"].update(min=3500, max=1800)

    msg = one_line_error(write(tmp_path, swap))
    assert "tags[3](plant1/assembly/weld1/welder/laser_power_setpoint).setpoint" in msg
    assert "min (3500.0) is greater than max (1800.0)" in msg
    assert "\n" not in msg


def test_bad_adapter_kind_and_bad_path(tmp_path):
    msg = one_line_error(write(tmp_path, lambda r: r["stations"][1].update(adapter={"kind": "modbus"})))
    assert "stations[1](dryroom).adapter" in msg and "sim, opcua, mqtt, rest, replay" in msg
    msg = one_line_error(write(tmp_path, lambda r: r["stations"][1]["tags"][2].update(path="room1/setpoint")))
    assert "ISA-95 path" in msg


def test_spec_limits_must_be_ordered(tmp_path):
    msg = one_line_error(write(tmp_path, lambda r: r["stations"][0]["tags"][0].update(
        spec={"lsl": 17.5, "target": 17.2, "usl": 16.9})))
    assert "tags[0](plant1/electrode/coat1/gauge/areal_mass_lane{lane:02d}).spec" in msg


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nstations: [\n  {a: 1\n")
    msg = one_line_error(path)
    assert "line" in msg and "not valid YAML" in msg


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read line config"):
        load_line_config(tmp_path / "nope.yaml")
