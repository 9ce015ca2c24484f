"""A small Django project whose sessions live in a sessionary store."""
