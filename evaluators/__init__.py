"""Media to numbers: the CLIP embedder, metric formulas and the scorecard."""
