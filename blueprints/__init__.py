"""Blueprints shipped with avtomat; ``avtomat up`` loads every module of this folder."""
