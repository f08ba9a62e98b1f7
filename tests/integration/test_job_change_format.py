"""The job-change format says what a moved person championed and links their old and
new CRM records; Salesforce contact roles say who played a part in a won deal. Both
stores, through the real ingest and the derived edges matching reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from graph_model.store import GraphStore
from ingest.config import load_config
from ingest.pipeline import Ingestor
from matching.derived import link_derived

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"


def _world(tmp_path: Path) -> Path:
    world = tmp_path / "world"
    shutil.copytree(FIXTURES, world, ignore=shutil.ignore_patterns("quarantine"))
    (world / "org" / "job_changes.csv").write_text(
        "person_id,email,from_account_id,to_account_id,title_before,title_after,changed_on,"
        "championed,new_person_id,new_email\n"
        # Lena moved from Acme to Globex, where she championed GTX Pro; Globex's CRM
        # keeps her under a record of its own (found by its email).
        "003A,,001A,001B,VP Data,Chief Data Officer,2026-11-12,GTX Pro; nosuchthing,,"
        "Raj.Patel@globex.example\n"
        # Nothing known about what Raj championed.
        ",raj.patel@globex.example,001B,,Chief Data Officer,,2026-11-13,,,\n"
    )
    (world / "crm" / "OpportunityContactRole.csv").write_text(
        "Id,OpportunityId,ContactId,Role,IsPrimary\n00KA,006A,003B,Decision Maker,true\n"
    )
    config = (world / "ingest.yaml").read_text()
    config = config.replace(
        "  - {name: signals,",
        "  - {name: contact_roles, reader: salesforce/opportunity_contact_role, "
        "path: crm/OpportunityContactRole.csv}\n  - {name: signals,",
    )
    (world / "ingest.yaml").write_text(config)
    return world


def test_championed_column_new_record_and_contact_roles(store: GraphStore, tmp_path: Path) -> None:
    world = _world(tmp_path)
    report = Ingestor(store, load_config(world / "ingest.yaml")).run()
    assert report.ok, [s.error for s in report.sources]
    moves = {r["src"]: r for r in store.edges("PREVIOUSLY_AT").to_dicts()}
    assert moves["003A"]["championed"] == ["GTX Pro", "nosuchthing"]
    assert moves["003F"]["championed"] == []
    same = store.edges("SAME_AS").select("src", "dst").rows()
    assert same == [("003A", "003F")]
    roles = store.edges("CHAMPIONED").select("src", "dst_label", "dst", "role").rows()
    assert roles == [("003B", "Opportunity", "006A", "Decision Maker")]

    derived = link_derived(store).champions
    assert derived.unknown == ["nosuchthing"]
    declared = store.edges("CHAMPIONED").filter(pl.col("dst_label") == "Capability")
    assert declared.select("src", "dst", "source").rows() == [("003A", "gtx-pro", "job_change")]
    assert link_derived(store).champions.written == 0
