"""Which tags a station's tile and trend show (workbench.display): the line config's ``display:`` block when
a station has one, a default by station kind when not; a pattern naming no tag is a load error."""

import math

import numpy as np
import pytest
import yaml

from workbench.config import ConfigError, default_config_path, load_line_config
from workbench.display import tags_named, tile_choice, trend_tags


def line_with(tmp_path, station, display):
    raw = yaml.safe_load(default_config_path().read_text())
    next(s for s in raw["stations"] if s["name"] == station)["display"] = display
    path = tmp_path / "line.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_line_config(path)


def test_without_a_display_block_the_station_kind_decides():
    line = load_line_config(default_config_path())
    coating, dry, weld, form = (line.station(n) for n in ("coating", "dryroom", "welding", "formation"))
    lanes = [t.short_name for t in trend_tags(coating)]
    assert lanes[0].endswith("lane01") and lanes[-1].endswith("lane24") and len(lanes) == 5
    assert {t.reports for t in trend_tags(dry)} == {"frost_point", "dew_point"}
    assert [t.spec is not None for t in trend_tags(weld)] == [True]
    assert all(t.path.endswith("/voltage") for t in trend_tags(form)) and len(trend_tags(form)) == 8
    tile = tile_choice(coating)
    assert (tile.label, tile.reduce, len(tile.tags), tile.units) == ("areal mass, lane mean", "mean", 24, "mg/cm^2")
    assert tile.reading([17.0, 17.4] + [np.nan] * 22).m == pytest.approx(17.2)
    assert math.isnan(tile.reading([np.nan] * 24).m)  # no value yet: a gap, not 0
    assert tile_choice(dry).reading([-45.0, -41.0, -50.0, -44.0]).m == pytest.approx(-41.0)


def test_a_display_block_chooses_the_tile_and_the_trend(tmp_path):
    line = line_with(tmp_path, "dryroom", {"tile": {"tags": ["frost_point_s1", "frost_point_s3"], "reduce": "min",
                                                    "label": "driest mirror"},
                                           "trends": ["frost_point_s2", "frost_point_setpoint"]})
    dry = line.station("dryroom")
    tile = tile_choice(dry)
    assert (tile.label, [t.short_name for t in tile.tags]) == ("driest mirror", ["frost_point_s1", "frost_point_s3"])
    assert tile.reading([-45.0, -47.0]).m == pytest.approx(-47.0)
    assert [t.short_name for t in trend_tags(dry)] == ["frost_point_s2", "frost_point_setpoint"]
    # the other stations keep their defaults
    assert len(trend_tags(line.station("coating"))) == 5


def test_patterns_match_names_and_path_ends(tmp_path):
    line = line_with(tmp_path, "formation", {"trends": ["rack2/*/voltage"],
                                             "tile": {"tags": ["temperature*"], "reduce": "max", "label": "hottest"}})
    form = line.station("formation")
    assert all("/rack2/" in t.path and t.path.endswith("/voltage") for t in trend_tags(form))
    assert len(tags_named(form, "voltage")) >= 8  # a bare name is also a prefix
    assert tile_choice(form).tags and all("temperature" in t.path for t in tile_choice(form).tags)


def test_a_pattern_that_names_no_tag_is_a_load_error_naming_station_and_pattern(tmp_path):
    with pytest.raises(ConfigError) as err:
        line_with(tmp_path, "welding", {"trends": ["weld_resistanse"]})
    msg = str(err.value)
    assert "weld_resistanse" in msg and "welding" in msg and "line.yaml" in msg
