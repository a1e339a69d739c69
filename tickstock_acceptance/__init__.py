"""Support package of the TickStock Phase 3 acceptance suite.

Steps and ``environment.py`` stay thin; everything they do is a call into this package.
"""
