"""Pure parts shared by the OPC UA client and server: units, ranges, qualities."""

from __future__ import annotations

import pytest
from asyncua import ua

from data_adapters.base import Quality
from data_adapters.opcua_model import (eu_information, eu_range, quality_of, status_of, unece_unit_id, unit_converter,
                                       units_from_eu)
from workbench.config import Tag


def test_unece_codes_and_display_names():
    assert unece_unit_id("CEL") == 0x43454C and eu_information("V").UnitId == unece_unit_id("VLT")
    eu = eu_information("mg/cm^2")  # no UNECE common code we rely on: -1, identified by its display name
    assert eu.UnitId == -1 and eu.DisplayName.Text == "mg/cm^2" and "milligram" in eu.Description.Text
    assert units_from_eu(eu) == "mg/cm^2"


def test_units_from_a_unece_code_only_and_an_unknown_unit():
    assert units_from_eu(ua.EUInformation(UnitId=unece_unit_id("AMP"), DisplayName=ua.LocalizedText("Ampere!"))) == "A"
    with pytest.raises(ValueError, match="engineering unit 'glorbs per shift' .* is not a unit pint understands"):
        units_from_eu(ua.EUInformation(UnitId=-1, DisplayName=ua.LocalizedText("glorbs per shift")))


@pytest.mark.parametrize("tag, low, high", [
    (Tag(path="a/b/c/d/sp", units="W", setpoint={"min": 1800, "max": 3200, "max_step": 1, "max_rate": 1}), 1800, 3200),
    (Tag(path="a/b/c/d/am", units="mg/cm^2", spec={"lsl": 16.86, "usl": 17.54}), 16.86 - 1.36, 17.54 + 1.36),
    (Tag(path="a/b/c/d/fp", units="degC", alarm={"high": -40.0}), -80.0, 150.0),
    (Tag(path="a/b/c/d/x", units="N"), -1e9, 1e9),
])
def test_eu_range_from_the_config(tag, low, high):
    r = eu_range(tag)
    assert (r.Low, r.High) == (pytest.approx(low), pytest.approx(high))


def test_quality_round_trips_through_status_codes():
    for q in Quality:
        assert quality_of(status_of(q)) is q
    assert quality_of(None) is Quality.GOOD
    assert quality_of(ua.StatusCode(ua.StatusCodes.BadSensorFailure)) is Quality.BAD


def test_unit_converter_converts_or_names_the_mismatch():
    assert unit_converter("degC", "K", "t")(20.0) == pytest.approx(293.15)
    assert unit_converter("g/min", "kg/h", "t")(1000.0) == pytest.approx(60.0)
    with pytest.raises(ValueError, match="plant1/x: the server reports 'V' but the line config says 'A'"):
        unit_converter("V", "A", "plant1/x")
