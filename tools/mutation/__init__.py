"""Mutation testing of the decision core and the boot-config editor (``make mutation``, docs/testing.md)."""
