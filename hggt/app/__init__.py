"""The browser annotation app (`hggt annotate serve`)."""
