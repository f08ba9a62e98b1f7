"""Entry points: the twoloop CLI (and later the agent loop, decisions API and console)."""
