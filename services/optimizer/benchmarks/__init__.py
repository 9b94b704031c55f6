"""Industry benchmarks: published figures with their provenance, the tenant's own
campaigns' history, the pool of peers of its industry, and each campaign's tier."""
