"""Training: the loop, its runs on disk, jobs the app starts, and several processes."""
