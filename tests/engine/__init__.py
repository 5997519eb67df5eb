"""Tests of the engine (platform/engine): no Flask, no views, no CLI (tests/test_layers.py)."""
