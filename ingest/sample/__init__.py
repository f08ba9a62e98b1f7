"""Sample worlds: realistic, dirty input files in the public formats, plus ground truth.

``first`` (:func:`write_sample`): a data-platform vendor selling to accounts in
Salesforce-style exports (the world ``make demo`` and most tests use).

A world writes an ``ingest.yaml`` that ingests exactly its files, and a
``ground_truth.csv`` that never enters the graph.
"""

from ingest.sample.common import AS_OF, SampleSummary
from ingest.sample.first import write_sample
from ingest.sample.first_catalog import CAPABILITIES, NEEDS, capability_table

__all__ = [
    "AS_OF",
    "CAPABILITIES",
    "NEEDS",
    "SampleSummary",
    "capability_table",
    "write_sample",
]
