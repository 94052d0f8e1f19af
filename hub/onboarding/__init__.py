"""Onboarding a district from files: ``gridlink hub import`` / ``export`` (docs/onboarding.md)."""
