"""Checks: one subpackage per checklist section (``environment``, ``etf``, ``database``, ``redis``;
the next slices add ``scenarios``, ``cache_sync``, ``message_flow``, ``resilience``).

A check is a named problem finder: it returns the problems it found (``[]`` when there are none),
in words a stakeholder can act on, and steps assert that list to be empty. Measurements a section
needs (e.g. expansion impact) live here too. Sections do not import each other.
May import: ``faults``, ``sut``, ``infra``, ``reporting``, ``contract``, ``core``, ``config``.
"""
