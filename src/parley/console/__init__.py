"""The Parley console: the operator's pages, shipped in the package and served at /console."""
