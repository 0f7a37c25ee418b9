"""Patches that make third-party machinery follow the active tenant (applied in ``ready()``)."""
