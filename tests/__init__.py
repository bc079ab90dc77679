"""The test suite: tests/conftest.py holds the fixtures; import its helpers as ``tests.conftest``."""
