"""Signed webhooks for internal services (Standard Webhooks style), through a durable queue."""
