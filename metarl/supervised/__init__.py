"""Supervised few-shot learning: task families, models, the held-out adaptation evaluation."""
