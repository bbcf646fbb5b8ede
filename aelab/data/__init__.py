"""Datasets: the known ones by name, a person's folders and zips, streaming, and data the package makes."""
