"""Consent: purposes, consent records and their check API, cookie preferences and the banner."""
