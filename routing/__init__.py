"""Handoff policy, escalation packets, outbox and channels.

Not built yet: arrives with the handoff issue.
"""
