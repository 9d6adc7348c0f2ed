"""A reload changes media.storage and media.retention on the running
tree: the reload walk's participants take them."""
from __future__ import annotations

from twisted.internet import defer

from camservice.config import load_config

from helpers.deferreds import outcome
from helpers.harness import make_harness


def test_reload_takes_storage_and_retention(write_config, clock, tmp_path):
    old = load_config(write_config({}))
    new = load_config(write_config({"media": {"storage": {"warn_percent": 60, "check_interval": 30},
                                              "retention": {"policy_type": "age", "max_age_days": 3}}},
                                   name="new.yaml"))
    harness = make_harness(old, clock)
    try:
        tree = harness.tree
        names = [name for name, _ in tree.reloader.participants]
        assert "storage" in names and "retention" in names
        tree.reloader._load = lambda: defer.succeed((new, "media: {}\n"))
        result = outcome(tree.reloader.reload("admin"))
        assert result.status == "applied", result
        assert result.changed == ("media",)
        assert tree.storage.config.warn_percent == 60
        assert (tree.retention.policy.policy_type, tree.retention.policy.max_age_days) == ("age", 3)
    finally:
        harness.stop()
