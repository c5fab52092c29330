"""What the OPC UA client and server agree on: engineering units, ranges, qualities, browse paths.

The address space follows OPC 10000-8 (Data Access): every tag is an ``AnalogItemType`` variable whose
``EngineeringUnits`` property is an ``EUInformation`` (UNECE code where one exists, the unit text in
``DisplayName`` always) and whose ``EURange`` property is a ``Range``. Its browse path from ``Objects``
is the ISA-95 path, one folder per level, all in the line namespace.

Example
-------
>>> eu = eu_information("degC")
>>> eu.DisplayName.Text, hex(eu.UnitId)
('degC', '0x43454c')
>>> units_from_eu(eu)
'degC'
"""

from __future__ import annotations

import math

from asyncua import ua

from workbench.config import Tag
from workbench.units import parse_unit, ureg

from data_adapters.base import Quality

UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
DEFAULT_NAMESPACE = "urn:line-workbench:virtual-line"

# UNECE Recommendation 20 common codes of the units the line uses (only codes we are sure of;
# the rest get UnitId -1 and are identified by DisplayName, which clients read first).
_UNECE = {
    "degC": "CEL", "K": "KEL", "V": "VLT", "A": "AMP", "W": "WTT", "J": "JOU", "m/min": "2X",
    "dimensionless": "C62", "s": "SEC", "m": "MTR", "g": "GRM", "kg": "KGM", "Hz": "HTZ",
    "ohm": "OHM", "A*h": "AMH", "Ah": "AMH", "%": "P1", "percent": "P1", "Pa": "PAL", "bar": "BAR",
}

# A plausible instrument span per unit for tags whose config gives no limits (EURange must exist).
_SPAN = {
    "degC": (-80.0, 150.0), "V": (0.0, 5.0), "A": (-20.0, 20.0), "W": (0.0, 5000.0), "J": (0.0, 100.0),
    "m/min": (0.0, 100.0), "g/min": (0.0, 10000.0), "uohm": (0.0, 1000.0), "mg/cm^2": (0.0, 50.0),
    "dimensionless": (0.0, 1.0), "ppmv": (0.0, 10000.0),
}

GOOD = ua.StatusCode(ua.StatusCodes.Good)


def unece_unit_id(code: str) -> int:
    """The OPC UA UnitId of a UNECE common code (OPC 10000-8 §5.6.3: the code's bytes, big-endian)."""
    out = 0
    for ch in code.strip():
        out = (out << 8) | ord(ch)
    return out


def eu_information(units: str) -> ua.EUInformation:
    """The ``EUInformation`` for a pint unit string of the line config (e.g. ``'mg/cm^2'``)."""
    unit = parse_unit(units, where="EUInformation")
    code = _UNECE.get(units)
    return ua.EUInformation(
        NamespaceUri=UNECE_NAMESPACE,
        UnitId=unece_unit_id(code) if code else -1,
        DisplayName=ua.LocalizedText(units),
        Description=ua.LocalizedText(f"{unit:D}" if str(unit) else "dimensionless"),
    )


_BY_UNIT_ID = {unece_unit_id(c): u for u, c in _UNECE.items()}


def units_from_eu(eu: ua.EUInformation) -> str:
    """The pint unit text of an ``EUInformation``: DisplayName if pint knows it, else the UNECE code.

    Raises ValueError naming the unit when neither is understood.
    """
    text = (eu.DisplayName.Text or "").strip() if eu.DisplayName else ""
    if text:
        try:
            parse_unit(text)
            return text
        except ValueError:
            pass
    if eu.UnitId in _BY_UNIT_ID:
        return _BY_UNIT_ID[eu.UnitId]
    raise ValueError(f"engineering unit {text!r} (UnitId {eu.UnitId}) is not a unit pint understands; "
                     "add it to the unit registry or set the tag's units to the server's unit")


def eu_range(tag: Tag) -> ua.Range:
    """The ``EURange`` of a tag: setpoint min/max, else spec or alarm limits widened, else the unit span."""
    if tag.setpoint is not None:
        return ua.Range(Low=tag.setpoint.min, High=tag.setpoint.max)
    limits = []
    if tag.spec:
        limits += [v for v in (tag.spec.lsl, tag.spec.usl) if v is not None]
    if tag.alarm:
        limits += [v for v in (tag.alarm.low_low, tag.alarm.low, tag.alarm.high, tag.alarm.high_high) if v is not None]
    span = _SPAN.get(tag.units)
    if len(limits) >= 2:
        lo, hi = min(limits), max(limits)
        pad = (hi - lo) * 2.0
        return ua.Range(Low=lo - pad, High=hi + pad)
    if span:
        lo, hi = span
        if limits:  # one-sided limit: make sure the range holds it
            lo, hi = min(lo, limits[0]), max(hi, limits[0])
        return ua.Range(Low=lo, High=hi)
    if limits:
        v = limits[0]
        return ua.Range(Low=v - 10 * abs(v) - 1, High=v + 10 * abs(v) + 1)
    return ua.Range(Low=-1e9, High=1e9)


def status_of(quality: Quality) -> ua.StatusCode:
    """OPC UA StatusCode for a reading's quality."""
    return ua.StatusCode({
        Quality.GOOD: ua.StatusCodes.Good,
        Quality.UNCERTAIN: ua.StatusCodes.Uncertain,
        Quality.STALE: ua.StatusCodes.UncertainLastUsableValue,
        Quality.BAD: ua.StatusCodes.Bad,
        Quality.DISCONNECTED: ua.StatusCodes.BadNoCommunication,
    }[quality])


_DISCONNECTED_CODES = {
    ua.StatusCodes.BadNoCommunication, ua.StatusCodes.BadNotConnected, ua.StatusCodes.BadServerNotConnected,
    ua.StatusCodes.BadShutdown, ua.StatusCodes.BadCommunicationError, ua.StatusCodes.BadConnectionClosed,
}


def quality_of(status: ua.StatusCode | None) -> Quality:
    """Reading quality for an OPC UA StatusCode (None counts as Good, as the standard says)."""
    if status is None or status.is_good():
        return Quality.GOOD
    if status.value in (ua.StatusCodes.UncertainLastUsableValue,):
        return Quality.STALE
    if status.is_uncertain():
        return Quality.UNCERTAIN
    if status.value in _DISCONNECTED_CODES:
        return Quality.DISCONNECTED
    return Quality.BAD


def browse_path(path: str, ns: int) -> list[str]:
    """The relative browse path from Objects of an ISA-95 path, as ``'ns:Name'`` strings."""
    return [f"{ns}:{part}" for part in path.split("/")]


def unit_converter(server_units: str, tag_units: str, where: str):
    """A function mapping a value in ``server_units`` to ``tag_units`` (identity when they are the same).

    Raises ValueError naming ``where`` when the dimensions differ (e.g. the server sends V, config says A).
    """
    if server_units == tag_units:
        return lambda v: v
    src, dst = ureg.Unit(server_units), ureg.Unit(tag_units)
    if src.dimensionality != dst.dimensionality:
        raise ValueError(f"{where}: the server reports {server_units!r} but the line config says {tag_units!r}; "
                         "these are different quantities - fix the tag's units in the config")

    def convert(v: float) -> float:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return math.nan
        return float(ureg.Quantity(v, src).to(dst).magnitude)
    return convert


__all__ = ["eu_information", "units_from_eu", "eu_range", "status_of", "quality_of", "browse_path",
           "unit_converter", "unece_unit_id", "DEFAULT_NAMESPACE", "UNECE_NAMESPACE"]
