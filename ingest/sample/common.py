"""What every sample world shares: the date it is generated as of, its summary, CSV writing."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AS_OF = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)

# The columns of the org_chart/job_changes reader's file.
JOB_CHANGE_COLUMNS = [
    "person_id",
    "email",
    "from_account_id",
    "to_account_id",
    "title_before",
    "title_after",
    "changed_on",
]


@dataclass
class SampleSummary:
    out: str
    accounts: int
    contacts: int
    signals: int
    opportunities: int
    ground_truth_pairs: int
    files: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "accounts": self.accounts,
            "contacts": self.contacts,
            "signals": self.signals,
            "opportunities": self.opportunities,
            "ground_truth_pairs": self.ground_truth_pairs,
            "files": self.files,
        }


def stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_csv(path: Path, header: list[str], rows: list[list[Any]], *, append: bool = False) -> int:
    with path.open("a" if append else "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if not append:
            writer.writerow(header)
        writer.writerows(rows)
    return len(rows)
