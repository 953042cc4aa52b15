"""Billing kernel pieces shared by the API and tools: webhook signatures, ledger rows, event parsing."""
