"""Simulator command; see cashbook.simulator."""
