"""Hypothesis settings for the SIP tests: no example database on disk, no per-example
deadline (the machine may be busy; the fuzz tests bound their own time)."""

from hypothesis import settings

settings.register_profile("trunkline-sip", database=None, deadline=None, print_blob=True)
settings.load_profile("trunkline-sip")
