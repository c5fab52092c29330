"""The line configuration: one YAML file that describes a production line.

It names the stations, how each is reached (adapter kind and address), every tag by its ISA-95 path
(``site/area/line/station/tag``) with units, spec limits (LSL/target/USL), alarm limits, and for
setpoints whether they are writable plus min, max, max step and max rate. The file is validated on
load; every error names the file, the key path and what would be valid, on one line.

Example
-------
>>> from workbench.config import load_line_config, default_config_path
>>> line = load_line_config(default_config_path())
>>> line.tag("plant1/electrode/coat1/coater/pump_rate_setpoint").setpoint.writable
True

A tag entry may stand for several tags: ``each: {lane: [1, 24]}`` expands ``{lane:02d}`` in the path,
description and name for lane = 1..24 (inclusive).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from workbench.strict_yaml import load_yaml_file
from workbench.units import parse_unit, ureg

ISA95_PATH = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-.]+){4}$")
STATION_KINDS = ("coating", "dryroom", "welding", "formation", "generic")


class ConfigError(ValueError):
    """A line configuration that cannot be used; the message names file, key and fix."""


class _Strict(BaseModel):
    # NaN/inf limits would make every comparison false (a `min: .nan` lets any value through): refused
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SpecLimits(_Strict):
    """Specification limits in the tag's units. At least one of lsl/usl.

    ``min_shift``: the smallest level shift of practical interest (tag units, > 0, below the tolerance);
    default a quarter of the tolerance half-width (:func:`workbench.spc.design.min_shift_of`).
    """

    lsl: float | None = None
    target: float | None = None
    usl: float | None = None
    min_shift: float | None = Field(None, gt=0, description="smallest level shift of practical interest")

    @model_validator(mode="after")
    def _ordered(self):
        if self.lsl is None and self.usl is None:
            raise ValueError("give at least one of lsl, usl")
        vals = [v for v in (self.lsl, self.target, self.usl) if v is not None]
        if vals != sorted(vals) or (self.lsl is not None and self.usl is not None and self.lsl >= self.usl):
            raise ValueError(f"need lsl <= target <= usl and lsl < usl, got {self.lsl}, {self.target}, {self.usl}")
        if self.min_shift is not None and self.lsl is not None and self.usl is not None \
                and self.min_shift >= self.usl - self.lsl:
            raise ValueError(f"min_shift {self.min_shift} is not below the tolerance usl - lsl = "
                             f"{self.usl - self.lsl:g}; give the smallest shift that matters, e.g. a quarter of "
                             f"the half-width ({(self.usl - self.lsl) / 8:g}), or leave it out for that default")
        return self


class AlarmLimits(_Strict):
    """Alarm limits in the tag's units (low/high, optional low_low/high_high)."""

    low_low: float | None = None
    low: float | None = None
    high: float | None = None
    high_high: float | None = None

    @model_validator(mode="after")
    def _ordered(self):
        vals = [v for v in (self.low_low, self.low, self.high, self.high_high) if v is not None]
        if not vals:
            raise ValueError("give at least one of low_low, low, high, high_high")
        if vals != sorted(vals):
            raise ValueError("need low_low <= low <= high <= high_high")
        return self


class Setpoint(_Strict):
    """Write permissions and guard limits of a setpoint, in the tag's units (rate per second)."""

    writable: bool = False
    min: float
    max: float
    max_step: float = Field(gt=0, description="largest change from the current readback in one write")
    max_rate: float = Field(gt=0, description="largest change per second between accepted writes")
    readback: str | None = Field(None, description="ISA-95 path of the process value that follows this setpoint")

    @model_validator(mode="after")
    def _range(self):
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max}); swap them")
        return self


class Tag(_Strict):
    """One signal of a station, addressed by its ISA-95 path."""

    path: str
    units: str
    name: str | None = None
    description: str = ""
    reports: Literal["dew_point", "frost_point"] | None = None
    resolution: float | None = Field(None, gt=0, description="quantisation step of the instrument")
    spec: SpecLimits | None = None
    alarm: AlarmLimits | None = None
    setpoint: Setpoint | None = None
    stale_after_s: float = Field(30.0, gt=0)

    @field_validator("path")
    @classmethod
    def _isa95(cls, v: str) -> str:
        if not ISA95_PATH.match(v):
            raise ValueError(f"{v!r} is not an ISA-95 path site/area/line/station/tag (5 parts, no spaces)")
        return v

    @field_validator("units")
    @classmethod
    def _unit(cls, v: str) -> str:
        try:
            parse_unit(v)
        except ValueError:
            raise ValueError(f"unknown unit {v!r}; use a pint unit such as 'mg/cm^2', 'degC', 'ppmv', 'uohm'") from None
        return v

    @model_validator(mode="after")
    def _quantity(self):
        if self.reports and not _is_quantity(self.units, "[temperature]"):
            raise ValueError(f"units {self.units!r} of a {self.reports.replace('_', ' ')} tag (reports: "
                             f"{self.reports}) are not a temperature; use degC, K or degF")
        return self

    @property
    def short_name(self) -> str:
        return self.name or self.path.rsplit("/", 1)[-1]

    @property
    def writable(self) -> bool:
        return bool(self.setpoint and self.setpoint.writable)


def _is_quantity(units: str, dimensionality: str) -> bool:
    return parse_unit(units).dimensionality == ureg.get_dimensionality(dimensionality)


def _no_secrets(values: Any, url_key: str | None = None) -> Any:
    """Before validation: a password written into the file (a `password` key, or `user:pass@` in the URL)
    is refused, pointing at `password_env`: the file is shared and versioned, the environment is not."""
    if isinstance(values, dict):
        if "password" in values:
            raise ValueError("password: never write the password into the config; put it in an environment "
                             "variable and name that variable with password_env: VARIABLE_NAME")
        url = values.get(url_key) if url_key else None
        if isinstance(url, str) and "@" in url.split("://", 1)[-1].split("/", 1)[0]:
            raise ValueError(f"{url_key}: credentials in the URL ({url.split('://', 1)[0]}://user:...@host) are "
                             "refused; give username and password_env (the password in an environment variable)")
    return values


class SimAdapter(_Strict):
    kind: Literal["sim"]
    seed: int = 0
    speed: float = Field(1.0, gt=0, description="simulated seconds per wall-clock second")


class OpcUaAdapter(_Strict):
    kind: Literal["opcua"]
    url: str = Field(pattern=r"^opc\.tcp://")
    security: Literal["None", "Basic256Sha256_SignAndEncrypt"] = "None"
    username: str | None = None
    password_env: str | None = Field(None, description="environment variable holding the password")
    certificate: str | None = None
    private_key: str | None = None
    server_certificate: str | None = None
    namespace: str = "urn:line-workbench:virtual-line"
    publishing_interval_ms: float = Field(100.0, gt=0)
    queue_size: int = Field(1000, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, values):
        return _no_secrets(values, "url")

    @model_validator(mode="after")
    def _login_encrypted(self):
        if (self.username or self.password_env) and self.security == "None":
            raise ValueError("username login needs security 'Basic256Sha256_SignAndEncrypt' (with certificate, "
                             "private_key and server_certificate): with security None the password would cross "
                             "the network unencrypted")
        return self


class MqttAdapter(_Strict):
    """An MQTT broker. Security: ``username`` + ``password_env`` for the login; ``tls: true`` verifies the
    broker's certificate against ``ca_file`` (the site CA, PEM) or the system CAs, host name included."""

    kind: Literal["mqtt"]
    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    client_id: str = "line-workbench"
    username: str | None = None
    password_env: str | None = Field(None, description="environment variable holding the password of username")
    tls: bool = Field(False, description="TLS to the broker (usually port 8883); its certificate is always verified")
    ca_file: str | None = Field(None, description="PEM of the CA that signed the broker's certificate (a site CA); "
                                "default: the system CAs")
    certfile: str | None = Field(None, description="PEM client certificate, for brokers that want one")
    keyfile: str | None = Field(None, description="PEM private key of certfile (unencrypted; omit if certfile holds it)")
    tls_insecure: bool = Field(False, description="skip only the host-name check (the CA chain is still verified); "
                               "for a broker reached by an address its certificate does not list")
    qos: Literal[0, 1, 2] = 1
    command_prefix: str = Field("cmd", description="writes are published to <command_prefix>/<tag path>")
    ack_prefix: str = Field("ack", description="the station acknowledges on <ack_prefix>/<tag path>")

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, values):
        return _no_secrets(values)

    @model_validator(mode="after")
    def _security(self):
        # Contradictions fail at load time; whether the files exist is checked when connecting (on that machine).
        tls_keys = [k for k in ("ca_file", "certfile", "keyfile", "tls_insecure") if getattr(self, k)]
        if tls_keys and not self.tls:
            raise ValueError(f"{', '.join(tls_keys)} only apply to TLS: set tls: true (and usually port 8883)")
        if self.keyfile and not self.certfile:
            raise ValueError("keyfile needs certfile (the client certificate the key belongs to)")
        if self.password_env and not self.username:
            raise ValueError("password_env needs username (the broker login the password belongs to)")
        return self


class RestAdapter(_Strict):
    kind: Literal["rest"]
    url: str = Field(pattern=r"^https?://")
    poll_interval_s: float = Field(1.0, gt=0)
    token_env: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, values):
        return _no_secrets(values, "url")


class ReplayAdapter(_Strict):
    kind: Literal["replay"]
    path: str
    format: Literal["auto", "csv", "parquet", "bdf", "novonix"] = "auto"
    speed: float = Field(1.0, gt=0, description="recorded seconds played per wall-clock second")
    loop: bool = Field(False, description="start again at the end of the recording")
    anchor: Literal["now", "recorded"] = Field("now", description="timestamps from the wall clock at start, "
                                               "or the recording's own times")


AdapterConfig = Annotated[
    Union[SimAdapter, OpcUaAdapter, MqttAdapter, RestAdapter, ReplayAdapter], Field(discriminator="kind")
]


class Station(_Strict):
    """A station of the line and how to reach it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["coating", "dryroom", "welding", "formation", "generic"]
    title: str = ""
    adapter: AdapterConfig
    tags: list[Tag]

    @model_validator(mode="after")
    def _unique(self):
        seen: set[str] = set()
        for t in self.tags:
            if t.path in seen:
                raise ValueError(f"tag path {t.path!r} is listed twice")
            seen.add(t.path)
        return self

    # what the dashboard shows of the station (optional; workbench.display picks a default by kind)
    display: StationDisplay | None = None

    @model_validator(mode="after")
    def _display_names_tags(self):
        d = self.display
        patterns = [] if d is None else (list(d.tile.tags) if d.tile else []) + list(d.trends or [])
        for p in patterns:
            if not any(display_matches(p, t) for t in self.tags):
                leaves = sorted({t.path.rsplit("/", 1)[-1] for t in self.tags})[:6]
                raise ValueError(f"display: {p!r} names no tag of station {self.name!r} (tag names such as {leaves})")
        return self


class TileDisplay(_Strict):
    """The one number of a station tile: ``reduce`` of the newest values of the tags matching ``tags``."""

    tags: list[str] = Field(min_length=1, description="tag names or glob patterns (see StationDisplay)")
    reduce: Literal["mean", "max", "min", "first"] = "mean"
    label: str


class StationDisplay(_Strict):
    """What the dashboard shows of a station (optional; without it a default by station kind,
    :mod:`workbench.display`). Patterns match a tag's last path element (``areal_mass_lane*``) or the end
    of its path (``rack1/*/voltage``), shell-style."""

    tile: TileDisplay | None = None
    trends: list[str] | None = Field(None, min_length=1, description="tags drawn on the station's trend")


def display_matches(pattern: str, tag: Tag) -> bool:
    """Does a display pattern name this tag (its last path element, or the end of its path)?"""
    import fnmatch

    return fnmatch.fnmatchcase(tag.path.rsplit("/", 1)[-1], pattern) or fnmatch.fnmatchcase(tag.path, "*/" + pattern)


Station.model_rebuild()  # resolve the display field, declared before its classes


class LineConfig(_Strict):
    """A whole line: stations with their tags. Load with :func:`load_line_config`."""

    version: Literal[1] = 1
    name: str
    site: str
    stations: list[Station]
    source: str | None = Field(None, description="file this config was loaded from")

    @model_validator(mode="after")
    def _checks(self):
        names = [s.name for s in self.stations]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"station names must be unique, repeated: {sorted(dup)}")
        paths = [t.path for s in self.stations for t in s.tags]
        dup = {p for p in paths if paths.count(p) > 1}
        if dup:
            raise ValueError(f"tag paths must be unique across stations, repeated: {sorted(dup)[:3]}")
        known = {t.path: t for s in self.stations for t in s.tags}
        for s in self.stations:
            for t in s.tags:
                rb = t.setpoint.readback if t.setpoint else None
                if rb and rb not in known:
                    raise ValueError(f"setpoint {t.path} names readback {rb!r}, which is not a tag")
                if rb and parse_unit(known[rb].units).dimensionality != parse_unit(t.units).dimensionality:
                    raise ValueError(f"setpoint {t.path} ({t.units}) names readback {rb} ({known[rb].units}), "
                                     "another quantity; the readback must measure what the setpoint sets")
        return self

    # --- lookups -------------------------------------------------------------------------------------
    def station(self, name: str) -> Station:
        for s in self.stations:
            if s.name == name:
                return s
        raise KeyError(f"no station {name!r} in line {self.name!r}; stations: {[s.name for s in self.stations]}")

    @property
    def tags(self) -> dict[str, Tag]:
        return {t.path: t for s in self.stations for t in s.tags}

    def tag(self, path: str) -> Tag:
        try:
            return self.tags[path]
        except KeyError:
            raise KeyError(f"no tag {path!r} in line {self.name!r} (source {self.source})") from None

    def station_of(self, path: str) -> Station:
        for s in self.stations:
            if any(t.path == path for t in s.tags):
                return s
        raise KeyError(f"no tag {path!r} in line {self.name!r}")

    def writable_tags(self) -> dict[str, Tag]:
        return {p: t for p, t in self.tags.items() if t.writable}


def _expand_each(entry: dict, where: str) -> list[dict]:
    """Expand ``each: {var: [first, last]}`` templates in a tag entry."""
    each = entry.get("each")
    if each is None:
        return [entry]
    if not isinstance(each, dict) or not each:
        raise ConfigError(f"{where}.each: expected a mapping like {{lane: [1, 24]}}, got {each!r}")
    names, ranges = [], []
    for var, span in each.items():
        if not (isinstance(span, list) and len(span) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in span)):
            raise ConfigError(f"{where}.each.{var}: expected [first, last] integers, got {span!r}")
        if span[0] > span[1]:
            raise ConfigError(f"{where}.each.{var}: [{span[0]}, {span[1]}] counts down and would give no tags; "
                              f"write [first, last] with first <= last, e.g. [{span[1]}, {span[0]}]")
        names.append(var)
        ranges.append(range(span[0], span[1] + 1))
    out = []
    base = {k: v for k, v in entry.items() if k != "each"}
    for combo in itertools.product(*ranges):
        values = dict(zip(names, combo))
        out.append(_format_strings(base, values, where))
    return out


def _format_strings(obj: Any, values: dict, where: str) -> Any:
    if isinstance(obj, str):
        try:
            return obj.format(**values)
        except (KeyError, ValueError, IndexError) as exc:
            raise ConfigError(f"{where}: cannot expand template {obj!r} with {values}: {exc}") from None
    if isinstance(obj, dict):
        return {k: _format_strings(v, values, where) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_format_strings(v, values, where) for v in obj]
    return obj


def _expand(raw: dict) -> tuple[dict, dict]:
    """Expand tag templates; return the expanded mapping and {(station, expanded index): original index}."""
    origin: dict[tuple[int, int], int] = {}
    stations = raw.get("stations")
    if not isinstance(stations, list):
        return raw, origin
    expanded_stations = []
    for i, st in enumerate(stations):
        if isinstance(st, dict) and isinstance(st.get("tags"), list):
            tags = []
            for j, entry in enumerate(st["tags"]):
                where = f"stations[{i}].tags[{j}]"
                for one in (_expand_each(entry, where) if isinstance(entry, dict) else [entry]):
                    origin[(i, len(tags))] = j
                    tags.append(one)
            st = {**st, "tags": tags}
        expanded_stations.append(st)
    return {**raw, "stations": expanded_stations}, origin


def _key_path(loc: tuple, raw: dict, origin: dict) -> str:
    """Render a pydantic location as a key path of the file as written (templates not expanded)."""
    loc = list(loc)
    if len(loc) >= 4 and loc[0] == "stations" and loc[2] == "tags" and isinstance(loc[3], int):
        loc[3] = origin.get((loc[1], loc[3]), loc[3])
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            label = ""
            if isinstance(node, list) and 0 <= item < len(node) and isinstance(node[item], dict):
                ident = node[item].get("name") or node[item].get("path")
                label = f"({ident})" if ident else ""
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]{label}"]
            node = node[item] if isinstance(node, list) and 0 <= item < len(node) else None
        else:
            if item in ("sim", "opcua", "mqtt", "rest", "replay") and parts and parts[-1] == "adapter":
                continue  # pydantic's discriminator tag, not a key the user wrote
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def _one_line(err: dict, raw: dict, origin: dict, source: str) -> str:
    key = _key_path(tuple(err["loc"]), raw, origin)
    kind = err["type"]
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        msg = "unknown key; remove it or check the spelling (see workbench/config.py for valid keys)"
    elif kind == "missing":
        msg = "required key is missing"
    elif kind == "union_tag_invalid":
        msg = "adapter kind must be one of sim, opcua, mqtt, rest, replay"
    elif kind == "finite_number":
        msg = f"{err.get('input')!r} is not a finite number; write a number (NaN and infinity are refused)"
    elif kind == "literal_error":
        msg = f"invalid value {err.get('input')!r}; {msg}"
    return f"{source}: {key}: {msg}"


def parse_line_config(raw: Any, *, source: str = "<config>") -> LineConfig:
    """Validate an already-parsed YAML mapping. Raises :class:`ConfigError` with one line per problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping with keys name, site, stations")
    try:
        expanded, origin = _expand(dict(raw))
    except ConfigError as exc:  # the template errors know the key, not the file
        raise ConfigError(f"{source}: {exc}") from None
    try:
        cfg = LineConfig.model_validate({**expanded, "source": source})
    except ValidationError as exc:
        lines = list(dict.fromkeys(_one_line(e, raw, origin, source) for e in exc.errors()))
        raise ConfigError("\n".join(lines)) from None
    return cfg


def load_line_config(path: str | Path) -> LineConfig:
    """Load and validate a line configuration YAML file.

    Errors (unknown key, unknown unit, min > max, bad ISA-95 path, bad YAML, a repeated key, a file that
    is not UTF-8 text) raise :class:`ConfigError`
    whose message starts with ``<file>: <key path>: <what is wrong and what would be valid>``.
    """
    path = Path(path)
    raw = load_yaml_file(path, what="line config", error=ConfigError)
    return parse_line_config(raw, source=str(path))


def default_config_path() -> Path:
    """The shipped configuration of the virtual line."""
    return Path(__file__).with_name("configs") / "virtual_line.yaml"


def unit_of(tag: Tag):
    """The pint unit of a tag."""
    return ureg.Unit(tag.units)


__all__ = [
    "ConfigError",
    "LineConfig",
    "Station",
    "Tag",
    "Setpoint",
    "SpecLimits",
    "AlarmLimits",
    "load_line_config",
    "parse_line_config",
    "default_config_path",
    "STATION_KINDS",
]
