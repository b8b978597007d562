"""Aspects: one module per dimension of a machine (os, packages, timezone, limits, clock, ...), each owning its
field, build fragment, run-time settings, facts, atoms and import; `registry.ASPECTS` lists them."""
