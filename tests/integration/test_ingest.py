"""Ingest on both stores: every reader on fixture files, dirty input, quarantine
accounting, idempotent reruns, crash and resume, incremental watermarks, the lock."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from graph_model.errors import IngestLocked
from graph_model.schema import REGISTRY
from graph_model.store import GraphStore
from ingest.config import load_config
from ingest.pipeline import (
    Ingestor,
    InjectedFault,
    RunReport,
    ingest_lock,
    lock_path_for,
    run_summary_line,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "ingest"


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A private copy of the fixture files (runs write quarantine files next to them)."""
    target = tmp_path / "world"
    shutil.copytree(FIXTURES, target, ignore=shutil.ignore_patterns("quarantine"))
    return target


def run(store: GraphStore, config: Path, **kwargs: object) -> RunReport:
    return Ingestor(store, load_config(config), **kwargs).run()  # type: ignore[arg-type]


def by_source(report: RunReport) -> dict[str, tuple[int, int, int, int]]:
    return {s.source: (s.rows_in, s.loaded, s.quarantined, s.duplicates) for s in report.sources}


def snapshot(store: GraphStore) -> dict[str, pl.DataFrame]:
    """Every table but the bookkeeping (run log, change journal, job lease, when a row
    was first quarantined), sorted, for state comparisons."""
    out: dict[str, pl.DataFrame] = {}
    for label, spec in REGISTRY.nodes.items():
        if label not in ("IngestRun", "Lease", "ChangeSet"):
            out[label] = store.nodes(label).sort(spec.key)
    out["QuarantinedRow"] = out["QuarantinedRow"].drop("first_run", "first_seen")
    for rel in REGISTRY.edges:
        frame = store.edges(rel)
        out[rel] = frame.sort(frame.columns)
    return out


def assert_same_state(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for name in a:
        assert_frame_equal(a[name], b[name], check_row_order=True)


def quarantine_rows(world: Path, source: str) -> list[dict[str, str]]:
    files = sorted(world.glob(f"quarantine/*/{source}.quarantine.csv"))
    assert files, f"no quarantine file for {source}"
    with files[-1].open() as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------ salesforce world


def test_salesforce_world_counts_values_and_quarantine(store: GraphStore, world: Path) -> None:
    report = run(store, world / "ingest.yaml")
    assert report.ok, [s.error for s in report.sources]
    assert by_source(report) == {
        "catalog": (5, 5, 0, 0),
        "users": (3, 3, 0, 0),
        "accounts": (9, 5, 3, 1),
        "contacts": (7, 4, 2, 1),
        "opportunities": (3, 3, 0, 0),
        "line_items": (4, 2, 2, 0),
        "tasks": (2, 2, 0, 0),
        "events": (1, 1, 0, 0),
        "job_changes": (2, 2, 0, 0),
        "signals": (9, 5, 4, 0),
    }
    assert all(s.balanced for s in report.sources)

    accounts = {r["account_id"]: r for r in store.nodes("Account").to_dicts()}
    assert sorted(accounts) == ["001A", "001B", "001C", "001G", "001H"]
    acme = accounts["001A"]
    assert acme["domain"] == "acme.example" and acme["annual_revenue"] == 12_000_000
    assert acme["relationship"] == "customer" and acme["tier"] == "B"
    assert accounts["001B"]["employees"] == 9000  # the later duplicate row wins
    assert accounts["001B"]["tier"] == "A"
    assert accounts["001C"]["in_icp"] is False  # 40 employees, the ICP starts at 50
    assert accounts["001G"]["suppressed"] is True  # domain on the suppression list
    industry = dict(store.edges("IN_INDUSTRY").select("src", "dst").rows())
    assert industry["001A"] == "technology"  # "technolgy" merged into the catalog's name
    assert "001H" not in industry  # "Finance Services": uncertain, left for review
    review = sorted((world / "quarantine").glob("*/accounts.review.csv"))
    assert "Finance Services" in review[0].read_text()

    reasons = {
        (r["file"], r["row"], r["field"]): r["reason"] for r in quarantine_rows(world, "accounts")
    }
    assert reasons == {
        ("crm/Account.csv", "4", "Name"): "is required (Account.name)",
        ("crm/Account.csv", "5", "NumberOfEmployees"): (
            "is not a whole number (got 'lots') (Account.employees)"
        ),
        (
            "crm/Account.csv",
            "6",
            "OwnerId",
        ): "no AccountManager with key '005Z' in this source or the graph",
    }
    contact_q = {(r["row"], r["field"]) for r in quarantine_rows(world, "contacts")}
    assert contact_q == {("4", "Email"), ("5", "AccountId")}

    people = {r["person_id"]: r for r in store.nodes("Person").to_dicts()}
    assert sorted(people) == ["003A", "003B", "003F", "003G"]  # 003C is 003B by email
    assert people["003A"]["seniority"] == "vp" and people["003B"]["seniority"] == "manager"
    assert people["003F"]["do_not_contact"] is True  # opted out in the CRM
    assert people["003G"]["do_not_contact"] is True  # email on the suppression list
    works = set(store.edges("WORKS_AT").select("src", "dst").rows())
    assert works == {("003A", "001B"), ("003B", "001A"), ("003G", "001A")}  # after job changes
    assert set(store.edges("PREVIOUSLY_AT").select("src", "dst").rows()) == {
        ("003A", "001A"),
        ("003F", "001B"),  # found by email
    }
    assert set(store.edges("REPORTS_TO").select("src", "dst").rows()) >= {("003B", "003A")}

    sold = set(store.edges("INCLUDES").select("src", "dst").rows())
    assert sold == {("006A", "managed-ingest"), ("006B", "gtx-pro")}  # "GTXPro" -> GTX Pro
    item_q = {r["row"]: r["reason"] for r in quarantine_rows(world, "line_items")}
    assert "not a known Capability" in item_q["3"]  # Quantum Widget
    assert "listed for review" in item_q["4"]  # "Data Qual Monitor" is a near miss
    statuses = dict(store.nodes("Opportunity").select("opportunity_id", "status").rows())
    assert statuses == {"006A": "won", "006B": "open", "006C": "lost"}

    emitted = set(store.edges("EMITTED").select("src_label", "src").rows())
    assert emitted == {
        ("Account", "001A"),
        ("Account", "001B"),
        ("Account", "001C"),
        ("Person", "003A"),
    }
    assert store.edges("USES").select("src", "dst").rows() == [("001B", "snowflake")]
    kinds = sorted(store.nodes("Signal")["kind"].to_list())
    assert kinds == ["funding", "hiring", "social_post", "tech_install", "web_visit"]
    poisoned = store.nodes("Signal").filter(pl.col("kind") == "social_post")["text"][0]
    assert poisoned.startswith("Ignore all previous instructions")  # stored as data, verbatim
    signal_q = {r["row"]: (r["field"], r["reason"]) for r in quarantine_rows(world, "signals")}
    assert signal_q["6"] == (
        "account_domain",
        "matches no Account by domain (got 'unknown.example')",
    )
    assert signal_q["7"][0] == "kind"
    assert signal_q["8"][0] == "*" and "not valid JSON" in signal_q["8"][1]
    assert signal_q["9"][0] == "occurred_at"
    assert signal_q["9"][1].startswith(
        "is not a datetime with a time zone (got '2026-11-09 12:00')"
    )

    runs = store.nodes("IngestRun")
    assert runs.height == 10 and set(runs["status"]) == {"succeeded"}
    assert (runs["rows_in"] == runs["loaded"] + runs["quarantined"] + runs["duplicates"]).all()


def test_hubspot_and_org_chart_readers(store: GraphStore, world: Path) -> None:
    report = run(store, world / "hubspot.yaml")
    assert report.ok, [s.error for s in report.sources]
    assert by_source(report) == {
        "catalog": (5, 5, 0, 0),
        "ams": (3, 3, 0, 0),
        "companies": (3, 2, 1, 0),
        "contacts": (2, 2, 0, 0),
        "org_chart": (3, 2, 1, 0),
        "deals": (2, 2, 0, 0),
        "line_items": (2, 2, 0, 0),
        "engagements": (3, 2, 1, 0),
    }
    accounts = {r["account_id"]: r for r in store.nodes("Account").to_dicts()}
    assert accounts["9001"]["domain"] == "stark.example"  # from the website when domain is empty
    assert accounts["9001"]["relationship"] == "customer"
    assert set(store.edges("SUBSIDIARY_OF").select("src", "dst").rows()) == {("9002", "9001")}
    assert (
        store.nodes("AccountManager", {"am_id": "am-1"})["email"][0]
        == "maya.chen@northwind.example"
    )
    people = {r["person_id"]: r for r in store.nodes("Person").to_dicts()}
    assert people["7002"]["full_name"] == "pepper@stark.example"  # no name: the email stands in
    assert people["7002"]["do_not_contact"] is True
    assert people["p-1"]["seniority"] == "executive" and people["p-2"]["seniority"] == "individual"
    assert set(store.edges("INCLUDES").select("src", "dst").rows()) == {
        ("8001", "dq-monitor"),
        ("8002", "gtx-pro"),
    }
    activity = {r["activity_id"]: r for r in store.nodes("Activity").to_dicts()}
    assert activity["4002"]["kind"] == "email" and activity["4002"]["direction"] == "inbound"
    assert str(activity["4001"]["occurred_at"]) == "2026-11-04 15:00:00+00:00"


# ------------------------------------------------------------------ idempotence and crashes


def test_rerun_of_the_same_input_changes_nothing(store: GraphStore, world: Path) -> None:
    first = run(store, world / "ingest.yaml")
    before = snapshot(store)
    second = run(store, world / "ingest.yaml")
    assert first.ok and second.ok
    assert_same_state(before, snapshot(store))
    # The incremental sources read only rows at or past their watermark the second time.
    accounts = next(s for s in second.sources if s.source == "accounts")
    assert accounts.older_than_watermark == 9 and accounts.rows_in == 0
    assert accounts.watermark == "2026-11-09T10:00:00+00:00"


@pytest.mark.parametrize("k", [1, 3, 6])
def test_crash_after_batch_k_leaves_whole_batches_and_a_rerun_converges(
    store_factory: Callable[..., GraphStore], world: Path, tmp_path: Path, k: int
) -> None:
    # A clean run on a separate embedded store gives the reference state.
    from graph_model.store import connect

    reference = connect(str(tmp_path / "reference"))
    assert run(reference, world / "ingest.yaml").ok
    expected = snapshot(reference)

    store = store_factory()
    with pytest.raises(InjectedFault):
        run(store, world / "ingest.yaml", fault_after_batch=k)
    runs = store.nodes("IngestRun")
    crashed = runs.filter(pl.col("status") == "running")
    assert crashed.height == 1  # the source that was cut off, with what it committed
    loaded = crashed["loaded"][0]
    assert crashed["batches"][0] >= 1 and loaded <= crashed["rows_in"][0]

    report = run(store, world / "ingest.yaml")
    assert report.ok
    assert_same_state(expected, snapshot(store))
    # The cut-off run is now marked as interrupted.
    again = store.nodes("IngestRun", {"run_id": crashed["run_id"][0]})
    assert again["status"][0] == "failed" and "interrupted" in again["error"][0]


def test_crash_in_a_real_process_then_rerun(embedded_store: GraphStore, world: Path) -> None:
    """os._exit after the second committed batch: no cleanup runs at all."""
    script = (
        "import os, sys\n"
        "from graph_model.store import connect\n"
        "from ingest.config import load_config\n"
        "from ingest import pipeline\n"
        "class Die(pipeline.Ingestor):\n"
        "    def _after_batch(self):\n"
        "        self._batches_done += 1\n"
        "        if self._batches_done == 4: os._exit(9)\n"
        f"Die(connect({str(embedded_store.uri)!r}), load_config(sys.argv[1])).run()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(world / "ingest.yaml")],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 9, proc.stderr
    embedded_store.close()
    from graph_model.store import connect

    store = connect(embedded_store.uri)
    assert run(store, world / "ingest.yaml").ok
    counts = store.counts().nodes
    assert counts["Account"] == 5 and counts["Person"] == 4 and counts["Signal"] == 5


# ------------------------------------------------------------------ incremental


def test_incremental_run_reads_past_the_watermark(store: GraphStore, world: Path) -> None:
    assert run(store, world / "ingest.yaml").ok
    with (world / "crm" / "Account.csv").open("a") as handle:
        handle.write(
            "001I,Initrode,initrode.example,Software,75,,005A,,Prospect,US,2026-11-20T10:00:00Z\n"
            # changed record, newer than the watermark
            "001C,Initech Corp,initech.example,Software,60,,005A,,Prospect,US,"
            "2026-11-21T10:00:00Z\n"
            # an old row (before the watermark) that must be skipped
            "001J,Old News,old.example,Software,75,,005A,,Prospect,US,2020-01-01T00:00:00Z\n"
        )
    report = Ingestor(store, load_config(world / "ingest.yaml")).run(["accounts"])
    accounts = report.sources[0]
    assert accounts.status == "succeeded"
    assert (accounts.rows_in, accounts.loaded, accounts.older_than_watermark) == (2, 2, 10)
    assert accounts.watermark == "2026-11-21T10:00:00+00:00"
    names = dict(store.nodes("Account").select("account_id", "name").rows())
    assert names["001I"] == "Initrode" and names["001C"] == "Initech Corp" and "001J" not in names


# ------------------------------------------------------------------ limits and the lock


def test_reject_rate_above_the_limit_fails_and_writes_nothing(
    store: GraphStore, world: Path
) -> None:
    config = (
        (world / "ingest.yaml").read_text().replace("max_reject_rate: 0.6", "max_reject_rate: 0.2")
    )
    (world / "strict.yaml").write_text(config)
    report = run(store, world / "strict.yaml")
    assert not report.ok
    failed = report.sources[-1]
    assert failed.source == "accounts" and failed.status == "failed"
    assert "3 of 9 rows rejected (33.3%), above the limit of 20.0%" in (failed.error or "")
    assert store.counts().nodes["Account"] == 0
    assert [s.source for s in report.sources] == ["catalog", "users", "accounts"]  # stops there
    assert quarantine_rows(world, "accounts")
    run_node = store.nodes("IngestRun", {"source": "accounts"})
    assert run_node["status"][0] == "failed" and run_node["watermark"][0] is None


def test_a_second_run_on_the_same_store_is_refused(store: GraphStore, world: Path) -> None:
    with ingest_lock(store), pytest.raises(IngestLocked, match="another ingest run"):
        run(store, world / "ingest.yaml")
    assert store.counts().nodes["Account"] == 0
    assert run(store, world / "ingest.yaml").ok  # released


def test_locked_store_exits_75_from_the_cli(embedded_store: GraphStore, world: Path) -> None:
    lock = lock_path_for(embedded_store)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.pwrite(fd, str(os.getpid()).encode(), 0)\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "ingest",
                "run",
                "--config",
                str(world / "ingest.yaml"),
                "--graph",
                embedded_store.uri,
            ],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 75, proc.stderr
        assert f"another ingest run (pid {holder.pid})" in proc.stderr
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)


# ------------------------------------------------------------------ generic mappings and files

PARTNER_MAPPING = """
name: partners
columns:
  Partner ID: id
  Company: name
  Site: {description: website, required: false}
  Joined: {description: dd.mm.yyyy, required: false}
  Status: Aktiv or Inaktiv
  Owner: owner email
nodes:
  - label: Account
    key: {column: Partner ID, transforms: [trim, upper, {prefix: "P-"}]}
    properties:
      name: {column: Company, transforms: [squash]}
      domain: {column: Site, transforms: [domain]}
      relationship:
        column: Status
        transforms: [{map: {aktiv: partner, inaktiv: former_customer, other: reject}}]
      updated_at:
        column: Joined
        transforms: [{datetime: {formats: ["%d.%m.%Y"], timezone: Europe/Berlin}}]
edges:
  - type: OWNS
    src:
      label: AccountManager
      key: {column: Owner, transforms: [email, {lookup: {label: AccountManager, field: email}}]}
    dst: {label: Account, key: {column: Partner ID, transforms: [trim, upper, {prefix: "P-"}]}}
"""


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_mapping_file_loads_another_crm_without_code(
    embedded_store: GraphStore, world: Path, fmt: str
) -> None:
    (world / "partners.yaml").write_text(PARTNER_MAPPING)
    frame = pl.DataFrame(
        {
            "Partner ID": [" p1 ", "p2", "p3"],
            "Company": ["Alpha  Partners", "Beta GmbH", "Gamma"],
            "Site": ["https://www.alpha.example", None, "gamma.example"],
            "Joined": ["01.03.2026", "15.07.2025", "2026-01-01"],
            "Status": ["Aktiv", "inaktiv", "Pausiert"],
            "Owner": [
                "Maya.Chen@northwind.example",
                "omar.haddad@northwind.example",
                "x@y.example",
            ],
        }
    )
    if fmt == "csv":
        frame.write_csv(world / "partners.csv")
    else:
        frame.write_parquet(world / "partners.parquet")
    (world / "p.yaml").write_text(
        "reject_rate_min_rows: 100\nsources:\n"
        "  - {name: users, reader: salesforce/user, path: crm/User.csv}\n"
        f"  - {{name: partners, mapping: partners.yaml, path: partners.{fmt}}}\n"
    )
    report = run(embedded_store, world / "p.yaml")
    assert report.ok
    partners = report.sources[1]
    assert (partners.rows_in, partners.loaded, partners.quarantined) == (3, 2, 1)
    rows = {r["account_id"]: r for r in embedded_store.nodes("Account").to_dicts()}
    assert rows["P-P1"]["name"] == "Alpha Partners" and rows["P-P1"]["domain"] == "alpha.example"
    assert rows["P-P1"]["updated_at"] == dt.datetime(2026, 2, 28, 23, tzinfo=dt.UTC)
    assert rows["P-P2"]["relationship"] == "former_customer"
    assert set(embedded_store.edges("OWNS").select("src", "dst").rows()) == {
        ("005A", "P-P1"),
        ("005B", "P-P2"),
    }
    problem = quarantine_rows(world, "partners")[0]
    # Row 3 has three problems (status, date, owner); the first in mapping order is reported.
    assert (problem["row"], problem["field"]) == ("3", "Status")
    assert problem["reason"] == (
        "is not one of aktiv, inaktiv (got 'Pausiert') (Account.relationship)"
    )


def test_a_missing_column_names_the_file_and_the_column(
    embedded_store: GraphStore, world: Path
) -> None:
    text = (world / "crm" / "User.csv").read_text().replace("Email,", "Mail,", 1)
    (world / "crm" / "User.csv").write_text(text)
    report = run(embedded_store, world / "ingest.yaml")
    users = report.sources[1]
    assert users.status == "failed"
    assert users.error == "crm/User.csv: missing column Email (the salesforce/user reader needs it)"


# ------------------------------------------------------------------ bad input, named


def users_config(world: Path, options: str = "", path: str = "crm/User.csv") -> Path:
    config = world / "users.yaml"
    config.write_text(
        f"sources:\n  - {{name: users, reader: salesforce/user, path: {path}{options}}}\n"
    )
    return config


def test_a_latin1_export_fails_naming_the_byte_then_loads_with_its_encoding(
    store: GraphStore, world: Path
) -> None:
    users = world / "crm" / "User.csv"
    data = users.read_text().replace("Maya,Chen", "Maya,Müller").encode("latin-1")
    users.write_bytes(data)
    offset = data.index("ü".encode("latin-1"))
    report = run(store, users_config(world))
    assert not report.ok
    assert report.sources[0].error == (
        f"crm/User.csv: line 2, byte offset {offset}: 0xFC is not UTF-8 "
        "(set `encoding:` on the source, e.g. `encoding: cp1252` or `encoding: latin-1`)"
    )
    assert store.counts().nodes["AccountManager"] == 0
    report = run(store, users_config(world, ", encoding: latin-1"))
    assert report.ok and report.sources[0].balanced
    names = dict(store.nodes("AccountManager").select("am_id", "full_name").rows())
    assert names["005A"] == "Maya Müller"


def test_a_semicolon_export_gets_a_delimiter_hint_then_loads(
    store: GraphStore, world: Path
) -> None:
    users = world / "crm" / "User.csv"
    users.write_text(users.read_text().replace(",", ";"))
    report = run(store, users_config(world))
    assert report.sources[0].error == (
        "crm/User.csv: missing columns Email, Id, LastName (the salesforce/user reader needs "
        "them) (the header looks `;`-separated: set `delimiter: ';'` on the source)"
    )
    report = run(store, users_config(world, ", delimiter: ';'"))
    assert report.ok
    assert store.counts().nodes["AccountManager"] == 3


def test_an_unclosed_quote_fails_the_source_naming_its_line(
    embedded_store: GraphStore, world: Path
) -> None:
    users = world / "crm" / "User.csv"
    users.write_text(users.read_text().replace("Omar,Haddad", 'Omar,"Haddad'))
    report = run(embedded_store, users_config(world))
    assert report.sources[0].error == (
        "crm/User.csv: line 3: a quoted field opened here is never closed "
        '(close it, and double a quote that is part of the text: "")'
    )


def test_an_empty_file_a_header_only_file_and_a_directory(
    embedded_store: GraphStore, world: Path
) -> None:
    users = world / "crm" / "User.csv"
    header = users.read_text().splitlines()[0]
    users.write_bytes(b"")
    report = run(embedded_store, users_config(world))
    assert report.sources[0].error == "crm/User.csv: file is empty (0 bytes)"

    users.write_text(header + "\n")  # a header is a file with no rows: loaded, with a warning
    report = run(embedded_store, users_config(world))
    assert report.ok and report.sources[0].rows_in == 0
    assert report.sources[0].warnings == ["crm/User.csv: no rows, only a header"]

    users.write_text("Mail\n")  # but that header is checked
    report = run(embedded_store, users_config(world))
    assert report.sources[0].error == (
        "crm/User.csv: missing columns Email, Id, LastName (the salesforce/user reader needs them)"
    )

    report = run(embedded_store, users_config(world, path="crm"))
    assert report.sources[0].error == (
        "crm: is a directory, not a file (use a glob like crm/*.csv)"
    )


def test_columns_no_mapping_reads_are_a_warning_in_the_report(
    store: GraphStore, world: Path
) -> None:
    users = world / "crm" / "User.csv"
    with_extra = pl.read_csv(users, infer_schema=False).with_columns(
        pl.lit("Europe/Paris").alias("TimeZone__c"), pl.lit("Sales").alias("Department")
    )
    with_extra.write_csv(users)
    report = run(store, users_config(world))
    assert report.ok
    warning = (
        "crm/User.csv: columns the salesforce/user reader does not read: Department, "
        "TimeZone__c (AccountManager.timezone is read from TimeZoneSidKey)"
    )
    assert report.sources[0].warnings == [warning]
    assert run_summary_line(report.sources[0]).endswith(f"; warning: {warning}")
    stored = store.nodes("IngestRun", {"source": "users"})
    assert stored["warnings"].to_list() == [[warning]]

    with_extra.drop("TimeZoneSidKey").write_csv(users)
    report = run(store, users_config(world))
    assert report.sources[0].warnings == [
        "crm/User.csv: columns the salesforce/user reader does not read: Department, "
        "TimeZone__c (AccountManager.timezone is read from TimeZoneSidKey, which the file lacks)"
    ]

    # a mapping of its own that leaves the property out
    (world / "ams.yaml").write_text(
        "name: ams\ncolumns: {Id: id, LastName: name, Email: mailbox}\n"
        "nodes:\n  - label: AccountManager\n    key: Id\n"
        "    properties: {full_name: LastName, email: Email}\n"
    )
    (world / "ams-only.yaml").write_text(
        "sources:\n  - {name: ams, mapping: ams.yaml, path: crm/User.csv}\n"
    )
    report = run(store, world / "ams-only.yaml")
    assert report.sources[0].warnings == [
        "crm/User.csv: columns the ams reader does not read: Department, FirstName, "
        "LastModifiedDate, ManagerId, TimeZone__c, Title (AccountManager has a property "
        "timezone: map TimeZone__c to it in a mapping to load it; AccountManager has a "
        "property title: map Title to it in a mapping to load it)"
    ]


def test_jsonl_keys_no_mapping_reads_are_a_warning_and_the_fixtures_have_none(
    embedded_store: GraphStore, world: Path
) -> None:
    report = run(embedded_store, world / "ingest.yaml")
    assert report.ok and [s.warnings for s in report.sources] == [[]] * len(report.sources)
    signals = world / "signals" / "signals.jsonl"
    signals.write_text(
        signals.read_text().replace('"kind": "funding",', '"kind": "funding", "sentiment": 0.4,')
    )
    report = Ingestor(embedded_store, load_config(world / "ingest.yaml")).run(["signals"])
    assert report.sources[0].warnings == [
        "signals/signals.jsonl: keys the signals reader does not read: sentiment"
    ]


# ------------------------------------------------------------------ the sample world


def test_sample_world_is_deterministic_and_ingests_with_exact_accounting(
    embedded_store: GraphStore, tmp_path: Path
) -> None:
    from ingest.sample import write_sample

    a = write_sample(tmp_path / "a", accounts=120, seed=3)
    write_sample(tmp_path / "b", accounts=120, seed=3)
    c = write_sample(tmp_path / "c", accounts=120, seed=4)
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert (tmp_path / "a" / "signals/signals.jsonl").read_bytes() != (
        tmp_path / "c" / "signals/signals.jsonl"
    ).read_bytes()
    assert a.ground_truth_pairs > 50 and c.accounts == 120
    assert "ground_truth" not in (tmp_path / "a" / "ingest.yaml").read_text()

    report = run(embedded_store, tmp_path / "a" / "ingest.yaml")
    assert report.ok, [s.error for s in report.sources]
    assert all(s.balanced for s in report.sources)
    counts = embedded_store.counts()
    assert counts.nodes["Account"] >= 115 and counts.nodes["Capability"] == 12
    assert counts.edges["EMITTED"] > 0 and counts.edges["PREVIOUSLY_AT"] > 0
    dirty = {s.source: s for s in report.sources}
    assert dirty["contacts"].duplicates > 0 and dirty["contacts"].quarantined > 0
    assert dirty["signals"].quarantined > 0
    # Poisoned text is stored verbatim, as data.
    texts = embedded_store.nodes("Signal")["text"].to_list()
    assert any("Ignore all previous instructions" in t for t in texts)


def test_a_larger_catalog_adds_editions_that_ingest_and_sell(
    embedded_store: GraphStore, tmp_path: Path
) -> None:
    from ingest.sample import CAPABILITIES, capability_table, write_sample

    table = capability_table(50)
    assert len({c[0] for c in table}) == 50 and table[:12] == CAPABILITIES
    assert all(c[2] and c[3] and c[4] for c in table)  # needs, integrations, industries
    assert {c[0] for c in capability_table(5)} < {c[0] for c in CAPABILITIES}

    write_sample(tmp_path / "w", accounts=150, seed=2, capabilities=50)
    report = run(embedded_store, tmp_path / "w" / "ingest.yaml")
    assert report.ok and all(s.balanced for s in report.sources)
    assert embedded_store.counts().nodes["Capability"] == 50
    # Deals for editions land on the edition, not on the capability they derive from.
    sold = set(embedded_store.edges("INCLUDES")["dst"].to_list())
    editions = {c[0] for c in table[12:]}
    assert sold & editions and sold - editions


# ------------------------------------------------------------------ schedules


def test_schedule_fire_times_and_a_foreground_firing(
    embedded_store: GraphStore, world: Path
) -> None:
    from ingest.schedule import ScheduledRun, Scheduler, upcoming

    config = load_config(world / "ingest.yaml")
    after = dt.datetime(2026, 11, 21, 1, 10, tzinfo=dt.UTC)
    fires = upcoming(config, after, 4)
    assert fires == [
        (dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC), "hourly-signals"),
        (dt.datetime(2026, 11, 21, 2, 30, tzinfo=dt.UTC), "nightly"),
        (dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC), "hourly-signals"),
        (dt.datetime(2026, 11, 21, 4, 0, tzinfo=dt.UTC), "hourly-signals"),
    ]
    seen: list[ScheduledRun] = []
    ran = Scheduler(embedded_store, config, on_run=seen.append).run(run_now=True, max_runs=2)
    assert ran == 2
    # "hourly-signals" runs only signals; "nightly" runs every source in order.
    sources = {r.schedule: [s.source for s in r.report.sources] for r in seen if r.report}
    assert sources["nightly"][0] == "catalog" and len(sources["nightly"]) == 10
    assert sources["hourly-signals"] == ["signals"]


def test_bad_cron_is_a_config_error(world: Path) -> None:
    from graph_model.errors import ConfigFileInvalid
    from ingest.schedule import check_schedules

    text = (world / "ingest.yaml").read_text().replace('"0 * * * *"', '"61 * * * *"')
    (world / "bad.yaml").write_text(text)
    with pytest.raises(ConfigFileInvalid, match=r"schedules\[0\]\.cron: '61 \* \* \* \*' is not"):
        check_schedules(load_config(world / "bad.yaml"))


def test_schedule_cli_runs_now_and_reports_json(embedded_store: GraphStore, world: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "ingest",
            "schedule",
            "--config",
            str(world / "ingest.yaml"),
            "--graph",
            embedded_store.uri,
            "--run-now",
            "--max-runs",
            "2",
            "--json",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {e["schedule"] for e in events} == {"hourly-signals", "nightly"}
    by_name = {e["schedule"]: e["report"] for e in events}
    assert by_name["nightly"]["ok"]
    # Fired first on an empty graph, signals name no known accounts: the source fails
    # on its reject rate and says so, and the scheduler goes on to the next firing.
    assert "rows rejected" in by_name["hourly-signals"]["sources"][0]["error"]


def test_lookups_by_full_scan_give_the_same_graph(
    store: GraphStore, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large lookups (over 50k values; any on the embedded store) read the label once
    instead of IN queries; both paths give the same graph."""
    from graph_model.store import connect
    from ingest import pipeline

    reference = connect(str(tmp_path / "reference"))
    monkeypatch.setattr(pipeline, "_EMBEDDED_SCANS", False)  # the reference uses IN queries
    assert run(reference, world / "ingest.yaml").ok
    monkeypatch.setattr(pipeline, "_EMBEDDED_SCANS", True)
    monkeypatch.setattr(pipeline, "_FULL_SCAN_AT", 0)
    report = run(store, world / "ingest.yaml")
    assert report.ok
    assert by_source(report)["signals"] == (9, 5, 4, 0)
    assert_same_state(snapshot(reference), snapshot(store))


def test_a_merged_contact_whose_surviving_record_is_rejected_leaves_no_dangling_edge(
    store: GraphStore, tmp_path: Path
) -> None:
    """Email dedupe moves the sparser record's edges onto the fuller one; when the
    fuller one is then rejected (unknown account), the moved edges go with it."""
    (tmp_path / "Account.csv").write_text(
        "Id,Name,Website,Industry,NumberOfEmployees,AnnualRevenue,OwnerId,ParentId,Type\n"
        "001A,Acme,acme.example,,,,005A,,Prospect\n",
        encoding="utf-8",
    )
    (tmp_path / "Contact.csv").write_text(
        "Id,AccountId,FirstName,LastName,Email,Title,Department\n"
        "003X,001Z,Lena,Park,lena@acme.example,VP Data,Data\n"  # fuller, unknown account
        "003Y,001A,,Park,LENA@acme.example,,\n"  # sparser, same email
        "003Q,001A,Tom,Reyes,tom@acme.example,Engineer,Data\n",
        encoding="utf-8",
    )
    (tmp_path / "ingest.yaml").write_text(
        "max_reject_rate: 1.0\nsources:\n"
        f"  - {{name: users, reader: salesforce/user, path: {FIXTURES / 'crm' / 'User.csv'}}}\n"
        "  - {name: accounts, reader: salesforce/account, path: Account.csv}\n"
        "  - {name: contacts, reader: salesforce/contact, path: Contact.csv}\n",
        encoding="utf-8",
    )
    report = run(store, tmp_path / "ingest.yaml")
    assert report.ok, [s.error for s in report.sources]
    assert by_source(report)["contacts"] == (3, 1, 2, 0)
    assert store.nodes("Person")["person_id"].to_list() == ["003Q"]
    assert store.edges("WORKS_AT")["src"].to_list() == ["003Q"]


# ------------------------------------------------------------------ issue 15: the second run


def _feed(path: Path, start: int, n: int, *, broken: int = 0, undated: int = 0) -> None:
    """Signal lines for account 001B, newer with each index; ``broken`` lines that are
    not JSON and ``undated`` events whose occurred_at cannot be read (no watermark)."""
    lines = [
        json.dumps(
            {
                "id": f"feed-{i}",
                "kind": "news",
                "account_id": "001B",
                "occurred_at": (dt.datetime(2026, 11, 5, tzinfo=dt.UTC) + dt.timedelta(hours=i))
                .isoformat()
                .replace("+00:00", "Z"),
                "source": "newswire",
                "title": f"Globex item {i}",
            }
        )
        for i in range(start, start + n)
    ]
    lines += [f'{{"id": "cut-{start}-{i}", "kind": "news"' for i in range(broken)]
    lines += [
        json.dumps(
            {
                "id": f"undated-{start}-{i}",
                "kind": "news",
                "account_id": "001B",
                "occurred_at": "last tuesday",
                "source": "newswire",
            }
        )
        for i in range(undated)
    ]
    with path.open("a") as handle:
        handle.write("\n".join(lines) + "\n")


def _hourly_config(world: Path) -> None:
    """hourly.yaml: the fixture config judged from 20 rows, signals at most 15% rejects."""
    config = (
        (world / "ingest.yaml")
        .read_text()
        .replace("reject_rate_min_rows: 5", "reject_rate_min_rows: 20")
        .replace(
            'path: "signals/*.jsonl", incremental: true}',
            'path: "signals/*.jsonl", incremental: true, max_reject_rate: 0.15}',
        )
    )
    (world / "hourly.yaml").write_text(config)


def test_a_scheduled_ingest_survives_its_bad_lines_on_every_later_run(
    store: GraphStore, world: Path
) -> None:
    """Bad lines have no watermark, so every incremental run reads them again: once
    quarantined they are remembered and no longer count as new rejects."""
    _hourly_config(world)
    _feed(world / "signals" / "feed.jsonl", 0, 200, broken=12, undated=10)
    first = run(store, world / "hourly.yaml")
    assert first.ok, [s.error for s in first.sources]
    signals = first.sources[-1]
    assert (signals.rows_in, signals.quarantined, signals.known_rejects) == (231, 26, 0)
    assert store.nodes("QuarantinedRow", {"source": "signals"}).height == 26
    before = snapshot(store)

    second = Ingestor(store, load_config(world / "hourly.yaml")).run(["signals"])
    again = second.sources[0]
    assert again.status == "succeeded", again.error
    # Every line read again is one quarantined before (the fixture's own rejects with
    # a readable date are older than the watermark): more than reject_rate_min_rows.
    assert again.quarantined == again.known_rejects == again.rows_in == 24
    assert again.loaded == 0
    assert again.quarantine_file is None  # nothing new to look at
    assert again.written == 0
    assert_same_state(before, snapshot(store))  # an unchanged world writes nothing

    _feed(world / "signals" / "feed.jsonl", 200, 5)
    third = Ingestor(store, load_config(world / "hourly.yaml")).run(["signals"])
    later = third.sources[0]
    assert later.status == "succeeded", later.error
    assert (later.loaded, later.known_rejects) == (5, 24)
    assert store.get_nodes("Signal", ["feed-204"]).height == 1


def test_new_bad_lines_are_judged_over_new_rows_only(store: GraphStore, world: Path) -> None:
    _hourly_config(world)
    _feed(world / "signals" / "feed.jsonl", 0, 200, broken=12, undated=10)
    assert run(store, world / "hourly.yaml").ok
    # 24 new rows, 6 of them new bad lines (25%): judged without the 26 known ones.
    _feed(world / "signals" / "feed.jsonl", 300, 18, broken=6)
    report = Ingestor(store, load_config(world / "hourly.yaml")).run(["signals"])
    failed = report.sources[0]
    assert failed.status == "failed"
    assert "6 of 24 new rows rejected (25.0%)" in (failed.error or "")
    assert store.get_nodes("Signal", ["feed-300"]).height == 0
    # Rejected sources remember nothing: the same 6 still count next time.
    assert store.nodes("QuarantinedRow", {"source": "signals"}).height == 26
