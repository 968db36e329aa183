"""The edges of glaciermap: the only package that knows file formats, drivers and remote services."""
