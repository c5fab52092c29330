"""Bad line configs a plant will write: each is refused on load (and by `workbench config check`) with a
message naming the file, the key and the fix; nothing is taken silently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench.config import ConfigError, default_config_path, load_line_config

ROOT = Path(__file__).resolve().parents[1]
DEW_POINT_S4 = ("stations", 1, "tags", 1)
PUMP_SP = ("stations", 0, "tags", 2)


def raw_default() -> dict:
    return yaml.safe_load(default_config_path().read_text())


def at(raw, keys):
    for k in keys:
        raw = raw[k]
    return raw


def write(tmp_path: Path, raw: dict, name: str = "line.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_line_config(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:"), msg
    return msg


def test_a_repeated_key_is_refused_naming_both_lines_and_the_key(tmp_path):
    text = default_config_path().read_text().replace(
        "max_step: 90, max_rate: 30,", "max_step: 90, max_rate: 30, max_step: 400,")
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    msg = refused(path)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "max_step: 400" in t)
    assert f"line {line}," in msg and "stations[0].tags[2].setpoint.max_step is repeated" in msg
    assert "remove one of them" in msg


def test_a_repeated_top_level_key_is_refused(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(default_config_path().read_text() + "\nname: another line\n")
    assert "key name is repeated (first at line" in refused(path)


def test_yaml_merge_keys_are_not_taken_for_repeats(tmp_path):
    from workbench.strict_yaml import load_yaml_text

    doc = load_yaml_text("base: &b {min: 1, max: 2}\nsp: {<<: *b, max: 3}\n", source="x.yaml")
    assert doc["sp"] == {"min": 1, "max": 3}


def test_each_that_counts_down_gives_an_error_not_zero_tags(tmp_path):
    raw = raw_default()
    raw["stations"][0]["tags"][0]["each"] = {"lane": [24, 1]}
    msg = refused(write(tmp_path, raw))
    assert "stations[0].tags[0].each.lane: [24, 1] counts down and would give no tags" in msg
    assert "[1, 24]" in msg


def test_a_dew_point_tag_in_watts_is_refused(tmp_path):
    raw = raw_default()
    at(raw, DEW_POINT_S4)["units"] = "W"
    msg = refused(write(tmp_path, raw))
    assert "dew_point_s4" in msg and "'W'" in msg and "not a temperature" in msg and "degC" in msg


def test_a_readback_of_another_quantity_than_its_setpoint_is_refused(tmp_path):
    raw = raw_default()
    at(raw, PUMP_SP)["setpoint"]["readback"] = "plant1/electrode/coat1/coater/line_speed"
    msg = refused(write(tmp_path, raw))
    assert "pump_rate_setpoint (g/min) names readback plant1/electrode/coat1/coater/line_speed (m/min)" in msg
    assert "another quantity" in msg


def test_a_readback_in_other_units_of_the_same_quantity_is_fine(tmp_path):
    raw = raw_default()
    pv = at(raw, ("stations", 0, "tags", 1))
    pv["units"] = "kg/h"
    assert load_line_config(write(tmp_path, raw)).tag(pv["path"]).units == "kg/h"


def opcua(**kw) -> dict:
    return {"kind": "opcua", "url": "opc.tcp://dryroom-plc:4840", **kw}


def test_a_password_in_the_file_points_at_password_env(tmp_path):
    raw = raw_default()
    raw["stations"][1]["adapter"] = opcua(security="Basic256Sha256_SignAndEncrypt", username="op",
                                          password="hunter2")
    msg = refused(write(tmp_path, raw))
    assert "stations[1](dryroom).adapter" in msg and "password_env" in msg and "unknown key" not in msg
    assert "hunter2" not in msg


def test_a_password_inside_the_url_is_refused(tmp_path):
    raw = raw_default()
    raw["stations"][1]["adapter"] = opcua(url="opc.tcp://op:hunter2@dryroom-plc:4840")
    msg = refused(write(tmp_path, raw))
    assert "stations[1](dryroom).adapter" in msg and "url" in msg and "password_env" in msg
    assert "hunter2" not in msg
    raw["stations"][1]["adapter"] = {"kind": "rest", "url": "https://op:hunter2@mes.example/api"}
    assert "hunter2" not in refused(write(tmp_path, raw))


def test_a_username_without_encryption_fails_config_check(tmp_path):
    raw = raw_default()
    raw["stations"][1]["adapter"] = opcua(username="op", password_env="DRYROOM_PW")
    path = write(tmp_path, raw)
    assert "needs security 'Basic256Sha256_SignAndEncrypt'" in refused(path)
    out = subprocess.run([sys.executable, "-m", "apps", "config", "check", str(path)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode != 0 and "needs security" in out.stderr + out.stdout


def test_a_binary_file_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "line.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb7\xfe")
    msg = refused(path)
    assert "not a text file" in msg and "UTF-8" in msg
    path.write_bytes("name: Linie 1\nsite: Köln\n".encode("latin-1"))
    msg = refused(path)
    assert "not UTF-8 text (byte 0xf6 at offset" in msg and "save it as UTF-8" in msg


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_a_nan_or_infinite_limit_is_refused(tmp_path, value):
    text = default_config_path().read_text().replace("{writable: true, min: 2500,", f"{{writable: true, min: {value},")
    path = tmp_path / "nan.yaml"
    path.write_text(text)
    msg = refused(path)
    assert "tags[2](plant1/electrode/coat1/coater/pump_rate_setpoint).setpoint.min" in msg
    assert "not a finite number" in msg
