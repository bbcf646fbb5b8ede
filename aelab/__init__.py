"""aelab: train, load and explore autoencoders and VAEs on 28x28 grayscale images."""

__version__ = "0.1.0"
