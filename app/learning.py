"""Who may change which score model ranks the next batch.

``twoloop learn rollback`` is an operator's command; in the console only an admin
(``TWOLOOP_ADMINS``) may roll back, and it does what the command does
(``matching.model.activate``): the chosen version becomes the active one.
"""

from __future__ import annotations

from app.actors import Actor
from graph_model.errors import NotAuthorized
from graph_model.store import GraphStore
from matching.model import activate


def roll_back(store: GraphStore, actor: Actor, to: str | None) -> str:
    """Make ``to`` (a version id, ``prior``, or None: the one before the active one)
    the active score model, as ``actor``; refused unless they are an admin."""
    if not actor.admin:
        raise NotAuthorized(
            actor.id,
            "roll back",
            "the score model",
            "only an admin (TWOLOOP_ADMINS) may change the model that ranks every queue",
        )
    return activate(store, to)
