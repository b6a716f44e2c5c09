"""The reference routing policies, one ``<model>.yaml`` per dispatch model (package data)."""
