"""Media to numbers: the CLIP embedder, metric formulas, the metric registry and the scorecard."""
