"""Shipped model cards (``models/<name>/card.json`` + ``CARD.md``) for the admin Models page."""
