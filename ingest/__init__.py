"""Sources -> validated typed records -> store (the ingest issue, in progress).

Built: ``normalise`` (domains from websites and emails on the packaged public-suffix
snapshot, company, compact and email keys) and ``resolve`` (fuzzy reconciliation
with merge/review thresholds, people deduplicated by email).
Not built yet: source readers, quarantine, runs and watermarks, the ingest CLI,
the sample world and the ingest benchmark.
"""
