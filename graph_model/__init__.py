"""The typed graph model and the stores that hold it.

``connect(uri)`` opens a store; ``REGISTRY`` describes every label and edge type.
graph_model imports none of twoloop's other packages.
"""

from graph_model import vocabulary as vocabulary
from graph_model.errors import TwoloopError
from graph_model.schema import REGISTRY, EdgeModel, NodeModel
from graph_model.store import Filter, GraphStore, Subgraph, connect

__all__ = [
    "REGISTRY",
    "EdgeModel",
    "Filter",
    "GraphStore",
    "NodeModel",
    "Subgraph",
    "TwoloopError",
    "connect",
    "vocabulary",
]
