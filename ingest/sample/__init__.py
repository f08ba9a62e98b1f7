"""Sample worlds: realistic, dirty input files in the public formats, plus ground truth.

Two worlds, designed apart so that a quality figure measured on one can be checked
on the other (never tune a default on one world alone):

- ``first`` (:func:`write_sample`): a data-platform vendor selling to accounts in
  Salesforce-style exports (the world ``make demo`` and most tests use);
- ``second`` (:func:`write_second_sample`): an operations-software vendor whose CRM
  is HubSpot, with needs silent in text, vendors of what it sells, needs solved a
  year ago with old signals, denials, subsidiaries and a strict per-capability fit.

A world writes an ``ingest.yaml`` that ingests exactly its files, and a
``ground_truth.csv`` that never enters the graph.
"""

from ingest.sample.common import AS_OF, SampleSummary
from ingest.sample.first import write_sample
from ingest.sample.first_catalog import CAPABILITIES, NEEDS, capability_table
from ingest.sample.second import write_second_sample

__all__ = [
    "AS_OF",
    "CAPABILITIES",
    "NEEDS",
    "SampleSummary",
    "capability_table",
    "write_sample",
    "write_second_sample",
]
