"""Signed webhooks (Standard Webhooks): endpoints, their secrets, deliveries as jobs."""
