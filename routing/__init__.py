"""The handoff: the routing policy (``policy``), what it reads from the graph
(``context``) and what it would do to current matches (``simulate``).

Escalation packets, the outbox and the channels arrive with the rest of the
handoff issue.
"""
