"""Notifications to the handling units' liaisons (联络员): webhook and e-mail, from an outbox."""
