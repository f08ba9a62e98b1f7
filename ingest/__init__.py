"""Sources -> validated typed records -> store: the discovery step of the agent loop.

- ``readers``: files (CSV, JSONL, Parquet) to all-text frames, rows numbered per file;
- ``mapping`` and ``mappings/``: declarative column -> node/edge rules with transforms
  (the built-in Salesforce, HubSpot, org-chart and signal readers are mappings);
- ``catalog``: the capability catalog and its ICP, tier and suppression rules;
- ``normalise`` and ``resolve``: domains, company/email keys, fuzzy reconciliation;
- ``config`` and ``pipeline``: ``ingest.yaml``, quarantine, dedupe, batched idempotent
  writes, watermarks, IngestRun nodes, the per-store ingest lock;
- ``schedule``: cron schedules in the foreground;
- ``sample``: the sample world (dirty inputs plus a separate ground truth).
"""
