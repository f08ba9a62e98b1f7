"""Capability catalog, signal->need extraction, metapaths, scoring.

Not built yet: arrives with the matching issue.
"""
