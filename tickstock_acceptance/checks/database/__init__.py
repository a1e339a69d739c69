"""Database integration (DB-1, DB-2): backward compatibility of the migration, and stock universe
maintenance beside ETF universe queries."""
