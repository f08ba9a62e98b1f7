"""Drafters, grounding and injection guards, AM style memory.

Not built yet: arrives with the handoff issue.
"""
