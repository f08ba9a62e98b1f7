from __future__ import annotations

from pathlib import Path

import pytest

from graph_model import errors
from graph_model.settings import Settings, load_settings, setting_env_names

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_readme() -> None:
    text = README.read_text()
    missing = [name for name in setting_env_names() if f"`{name}`" not in text]
    assert not missing, f"README's configuration table lacks {missing}"
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no help text"


def test_bad_setting_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOLOOP_BATCH_SIZE", "lots")
    with pytest.raises(errors.ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "TWOLOOP_BATCH_SIZE"
    assert "TWOLOOP_BATCH_SIZE" in str(caught.value)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOLOOP_GRAPH_URI", "neo4j+s://example.databases.neo4j.io")
    assert load_settings().graph_uri == "neo4j+s://example.databases.neo4j.io"


def test_admins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWOLOOP_ADMINS", raising=False)
    assert load_settings().admins == ()
    monkeypatch.setenv("TWOLOOP_ADMINS", " ops@vendor.example,, 005A00000 ,")
    assert load_settings().admins == ("ops@vendor.example", "005A00000")


def test_a_refusal_names_who_what_whose_and_why_and_exits_77() -> None:
    refused = errors.NotAuthorized(
        "am-2",
        "approve",
        "dr-1",
        "its owner is am-1 and am-2 is neither am-1's manager nor an admin",
        owner="am-1",
    )
    assert isinstance(refused, errors.TwoloopError) and not refused.transient
    assert refused.exit_code == 77
    assert str(refused) == (
        "am-2 may not approve dr-1: its owner is am-1 and am-2 is neither am-1's manager "
        "nor an admin; nothing was changed"
    )
    assert refused.fields == {"actor": "am-2", "action": "approve", "item": "dr-1", "owner": "am-1"}
    guarded = errors.GuardedEdit("dr-1", ["a price: '$99'", "a discount or free offer: '90% off'"])
    assert isinstance(guarded, errors.DecisionRejected) and guarded.exit_code == 2
    assert "a price: '$99'; a discount" in str(guarded) and "--confirm" in str(guarded)


def test_error_tree_is_rooted_and_transience_is_a_type_property() -> None:
    for cls in (
        errors.ConfigError,
        errors.SchemaError,
        errors.RecordRejected,
        errors.IdentifierRejected,
        errors.StoreError,
        errors.StoreLocked,
        errors.StoreUnavailable,
        errors.MissingEndpoints,
        errors.StoreCorrupt,
        errors.QueryFailed,
        errors.UnsupportedStoreURI,
    ):
        assert issubclass(cls, errors.TwoloopError)
    assert errors.StoreLocked.transient and errors.StoreUnavailable.transient
    assert not errors.RecordRejected.transient and not errors.MissingEndpoints.transient
    locked = errors.StoreLocked("/data/graph", 4242, 30)
    assert str(locked).startswith("store /data/graph is locked by pid 4242")
    assert locked.fields == {"path": "/data/graph", "pid": 4242}
    missing = errors.MissingEndpoints("WORKS_AT", [("Person", f"p{i}") for i in range(7)])
    assert "and 2 more" in str(missing) and "\n" not in str(missing)
