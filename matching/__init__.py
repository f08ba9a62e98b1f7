"""Matching: capabilities to account opportunities by typed paths in the graph.

- Signals to needs: ``extract`` (the Extractor protocol and the rules extractor),
  ``paraphrase`` (the offline paraphrase extractor over the local sentence encoder
  in ``encoder``), ``claude_extractor``, and ``indicates`` (keeping INDICATES edges
  current in a store).
- Derived edges (``derived``): own-site visits (``site``), declared champions,
  owners (``owners``), vendors by their own description (``offers``), written by
  ``edgesets``.
- Metapaths (``metapaths.yaml``, checked by ``metapaths``), evaluated as polars joins
  (``evaluate``, ``results``, ``render``) through a view of the graph as of a time
  (``asof``); the score model (``model``, ``prior.yaml``), learning (``learn``) and
  its queue guard (``surfacing``); the match run, explanations and contacts (``run``,
  ``contacts``, ``read``), incremental runs (``incremental``, ``recheck``), and
  backtests (``backtest``).
"""
