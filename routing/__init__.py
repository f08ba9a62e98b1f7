"""The handoff: the routing policy (``policy``), what it reads from the graph
(``context``), what it would do to current matches (``simulate``) and the
stored route of each match (``route``).

Escalation packets, the outbox and the channels arrive with the rest of the
handoff issue.
"""
