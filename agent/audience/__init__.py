"""The simulated audience: personas per segment watch renditions of the cuts and rank the variants."""
