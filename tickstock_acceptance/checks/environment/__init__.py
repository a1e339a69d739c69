"""Test environment validation (ENV-1..3): the database catalog, Redis logical databases, channels."""
