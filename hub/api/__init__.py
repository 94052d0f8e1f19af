"""Shared HTTP plumbing: dependencies and error mapping."""
