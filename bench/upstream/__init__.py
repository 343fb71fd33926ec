"""Upstream avtomatika as a benchmark target.

``app.py`` and ``flows.py`` run under the upstream virtualenv's python and import nothing of
avtomat; ``install.py`` runs in the project venv and creates that virtualenv on first use.
"""
