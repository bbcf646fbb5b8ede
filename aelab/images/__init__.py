"""Images in and out: reading untrusted files, preparing a model's input, rendering grids, PNGs and GIFs."""
