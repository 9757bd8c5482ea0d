"""Interop with other prompt-optimisation frameworks (``promptlift.interop.dspy``); nothing is imported here."""
