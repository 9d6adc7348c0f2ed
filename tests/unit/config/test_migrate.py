"""Older config files are migrated forward step by step before validation."""
from __future__ import annotations

import pytest

from camservice.config import ConfigError, load_config
from camservice.config.loader import migrate


def _rename_verbosity(document: dict) -> None:
    """An example step, version 1 -> 2: ``logging.verbosity`` became ``logging.level``."""
    logging = document.get("logging") or {}
    if "verbosity" in logging:
        logging["level"] = logging.pop("verbosity")


def _move_port(document: dict) -> None:
    """Version 2 -> 3: top-level ``port`` moved into ``server``."""
    if "port" in document:
        document.setdefault("server", {})["port"] = document.pop("port")


STEPS = {1: _rename_verbosity, 2: _move_port}


def test_each_step_runs_in_order_and_the_old_version_is_reported():
    document = {"version": 1, "logging": {"verbosity": "debug"}, "port": 9000}
    assert migrate(document, "f.yaml", STEPS, current=3) == 1
    assert document == {"version": 3, "logging": {"level": "debug"}, "server": {"port": 9000}}


def test_a_current_or_unversioned_file_is_left_alone():
    document = {"logging": {"verbosity": "debug"}}
    assert migrate(document, "f.yaml", STEPS, current=3) is None
    assert document == {"logging": {"verbosity": "debug"}}


def test_a_newer_file_or_a_gap_is_an_error_naming_version():
    with pytest.raises(ConfigError) as e:
        migrate({"version": 4}, "f.yaml", STEPS, current=3)
    assert e.value.problems[0].key == "version"
    with pytest.raises(ConfigError) as e:
        migrate({"version": 0}, "f.yaml", STEPS, current=3)
    assert e.value.problems[0].rule == "cannot be migrated: no migration from version 0"


def test_load_config_migrates_with_the_table_and_says_so(write_config, monkeypatch):
    from camservice.config import loader

    monkeypatch.setattr(loader, "CURRENT_VERSION", 2)
    monkeypatch.setattr(loader, "MIGRATIONS", {1: _rename_verbosity})
    monkeypatch.setitem(loader.schema()["properties"]["version"], "enum", [2])
    loader._validator.cache_clear()
    try:
        path = write_config({"version": 1, "logging": {"verbosity": "debug"}})
        config = loader.load_config(path)
        assert (config.version, config.migrated_from, config.logging.level) == (2, 1, "debug")
    finally:
        loader._validator.cache_clear()


def test_the_current_version_loads_unmigrated(write_config):
    config = load_config(write_config({"version": 1}))
    assert (config.version, config.migrated_from) == (1, None)
