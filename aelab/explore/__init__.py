"""What a model learnt: codes, maps, walks, directions, neighbours, samples, likelihoods, anomalies, metrics."""
