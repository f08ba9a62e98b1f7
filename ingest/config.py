"""``ingest.yaml``: which sources to load, in which order, with which limits and schedules."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from graph_model.errors import ConfigFileInvalid
from graph_model.yamlfile import read_yaml, validate
from ingest.mapping import SourceMapping, builtin_mapping, load_mapping
from ingest.resolve import FuzzyThresholds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """One source. ``reader`` names a built-in mapping (``salesforce/account``),
    ``mapping`` a mapping file, or ``reader: catalog`` the capability catalog."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    path: str  # a file or a glob, relative to the config file
    reader: str | None = None
    mapping: str | None = None
    format: Literal["csv", "jsonl", "parquet"] | None = None
    # CSV and JSONL: the files' text encoding (a Python codec name, e.g. latin-1,
    # cp1252, utf-16); unset: UTF-8, and a file that is not UTF-8 fails naming the byte.
    encoding: str | None = None
    # CSV: the field separator, one character (default ","). For a tab write "\t" (YAML
    # double quotes make it one character); '\t' and tab are read as a tab too.
    delimiter: str | None = None
    incremental: bool = False
    max_reject_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    join_files: dict[str, str] = Field(default_factory=dict)
    timezone: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("format") == "parquet":
            raise ValueError("Parquet files carry their own encoding; remove encoding")
        try:
            text_codec = getattr(codecs.lookup(value), "_is_text_encoding", True)
        except LookupError:
            text_codec = False
        if not text_codec:
            raise ValueError(
                f"unknown encoding {value!r} (use a Python codec name such as utf-8, "
                "latin-1, cp1252 or utf-16)"
            )
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("format") in ("jsonl", "parquet"):
            raise ValueError(f"only CSV files have a delimiter, not {info.data['format']}")
        value = "\t" if value in ("\\t", "tab") else value
        if len(value.encode()) != 1 or value in ('"', "\n", "\r"):
            raise ValueError(
                f"must be one ASCII character other than a quote or a line break, e.g. ';' "
                f'or "\\t" (got {value!r})'
            )
        return value

    @model_validator(mode="after")
    def _one_reader(self) -> SourceConfig:
        if (self.reader is None) == (self.mapping is None):
            raise ValueError("give exactly one of reader or mapping")
        return self


class Schedule(_Strict):
    name: str
    cron: str  # five fields: minute hour day-of-month month day-of-week
    sources: list[str] | None = None  # None: every source, in order
    timezone: str = "UTC"
    # ingest: the sources; loop: the whole agent loop (``twoloop loop run``), whose
    # ingest step runs every source of this config.
    job: Literal["ingest", "loop"] = "ingest"

    @model_validator(mode="after")
    def _loop_runs_everything(self) -> Schedule:
        if self.job == "loop" and self.sources is not None:
            raise ValueError("a loop schedule runs every source; leave out sources")
        return self


class Fuzzy(_Strict):
    merge_at: float = 92.0
    review_at: float = 80.0
    ambiguity_margin: float = 3.0


class IngestConfig(_Strict):
    sources: list[SourceConfig]
    quarantine_dir: str = "quarantine"
    max_reject_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    # Below this many rows the reject rate says little (an incremental run that re-read
    # two bad lines) and is not judged; rejected rows still go to quarantine.
    reject_rate_min_rows: int = Field(default=20, ge=1)
    # Rows per committed batch; unset: 250,000 on the embedded store (each commit
    # writes Parquet segments, so fewer and larger is faster), 50,000 on Neo4j (one
    # transaction per batch must fit the server's transaction memory).
    batch_rows: int | None = Field(default=None, ge=1)
    fuzzy: Fuzzy = Field(default_factory=Fuzzy)
    schedules: list[Schedule] = Field(default_factory=list)
    # Set by load_config: the directory relative paths start from.
    base_dir: Path = Path()
    config_path: Path = Path("ingest.yaml")

    @property
    def thresholds(self) -> FuzzyThresholds:
        return FuzzyThresholds(
            self.fuzzy.merge_at, self.fuzzy.review_at, self.fuzzy.ambiguity_margin
        )

    def resolve(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.base_dir / path

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigFileInvalid(
            str(self.config_path),
            "sources",
            f"no source named {name!r}",
            hint="sources: " + ", ".join(s.name for s in self.sources),
        )

    def mapping_for(self, source: SourceConfig) -> SourceMapping | None:
        """The mapping of a tabular source; None for the catalog."""
        if source.reader == "catalog":
            return None
        if source.reader is not None:
            return builtin_mapping(source.reader)
        assert source.mapping is not None
        return load_mapping(self.resolve(source.mapping))


def load_config(path: Path | str) -> IngestConfig:
    path = Path(path)
    data: Any = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigFileInvalid(str(path), "", "must be a mapping with a `sources:` list")
    data = {**data, "base_dir": path.parent.resolve(), "config_path": path}
    config = validate(IngestConfig, data, str(path))
    names = [s.name for s in config.sources]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigFileInvalid(str(path), f"sources[{i}].name", f"duplicate source {name!r}")
    for i, source in enumerate(config.sources):
        try:
            config.mapping_for(source)
        except ConfigFileInvalid as exc:
            if exc.path == "reader":
                raise ConfigFileInvalid(
                    str(path), f"sources[{i}].reader", exc.reason, hint=exc.hint
                ) from None
            raise
    for i, sched in enumerate(config.schedules):
        for name in sched.sources or []:
            if name not in names:
                raise ConfigFileInvalid(
                    str(path), f"schedules[{i}].sources", f"no source named {name!r}"
                )
    return config
