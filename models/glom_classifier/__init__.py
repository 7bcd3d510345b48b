"""Shipped model: see CARD.md and card.json."""
