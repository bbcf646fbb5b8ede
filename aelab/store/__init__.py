"""What aelab keeps on disk: checkpoints, the disk cache, and atomic writes."""
