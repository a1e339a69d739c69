"""Infrastructure: embedded throwaway servers (one ``EmbeddedServer`` base for PostgreSQL and
Redis), database and Redis clients with one-line errors, migrations, the catalog reader, and the
run's system (``AcceptanceSystem``) with its behave fixture.

May import: ``reporting``, ``contract``, ``core``, ``config``.
"""
