"""pytest fixtures for testing applications built on slither_actors (docs/testing.md)."""
