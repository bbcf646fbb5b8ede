"""The models: aelab's own autoencoders and VAEs, their configs, a person's own model, and input noise."""
