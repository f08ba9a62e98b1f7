"""Matching: capabilities to account opportunities by typed paths in the graph.

Built: signal -> need extraction (``extract``: the Extractor protocol and the
rules extractor; ``paraphrase``: the offline paraphrase extractor, over the local
sentence encoder in ``encoder``; ``claude_extractor``: the Claude adapter; ``indicates``:
keeping INDICATES edges current in a store) and the metapath declarations
(``metapaths.yaml``, read and checked against the registry by ``metapaths``).
Not built yet: evaluating metapaths as joins, features and score,
explanations, who to contact, Match nodes, learning.
"""
