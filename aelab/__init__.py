"""aelab: train, load and explore autoencoders and VAEs on grayscale and colour images (1x28x28 to 3x64x64)."""

__version__ = "0.1.0"
