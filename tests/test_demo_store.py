"""`workbench demo`'s own store: filled once, and a store from another version of the virtual line is
moved aside (the default store) or refused with the fix (a store the user chose)."""

from __future__ import annotations

import json

import pytest

from apps.cli.demo import prepare_demo_store
from workbench.history import HistoryStore
from workbench.history.store import DeclarationChanged

HOURS = 0.02  # a minute of history: enough to declare every station and store samples


def _age_the_store(store):
    """Make the store look written by an older virtual line: one formation tag had no resolution then."""
    path = store / "stations" / "formation.json"
    doc = json.loads(path.read_text())
    now = doc["tags"][0].get("resolution")
    doc["tags"][0]["resolution"] = None if now is not None else 0.5
    path.write_text(json.dumps(doc))
    return doc["tags"][0]["path"], now


def test_the_default_demo_store_of_an_older_line_is_moved_aside_and_filled_afresh(tmp_path, capsys):
    store = tmp_path / "demo"
    prepare_demo_store(store, chosen=False, hours=HOURS, events="none")
    tag, resolution = _age_the_store(store)
    prepare_demo_store(store, chosen=False, hours=HOURS, events="none")
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("demo-superseded-")]
    assert len(aside) == 1 and (aside[0] / "stations" / "formation.json").exists()  # kept, not deleted
    assert "moved it to" in capsys.readouterr().out
    assert HistoryStore(store).tags("formation")[tag].resolution == resolution  # declared anew, as the line is now
    assert HistoryStore(store).high_water_mark("formation") is not None  # and filled


def test_a_store_the_user_chose_is_never_moved(tmp_path):
    store = tmp_path / "mine"
    prepare_demo_store(store, chosen=True, hours=HOURS, events="none")
    _age_the_store(store)
    with pytest.raises(DeclarationChanged, match="resolution changed .* record into a new store"):
        prepare_demo_store(store, chosen=True, hours=HOURS, events="none")
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]
