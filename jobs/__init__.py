"""Scheduled audit jobs and the audit rules (`jobs.rules`)."""
