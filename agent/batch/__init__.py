"""Batches of runs and the executors that render their takes (in this process, or on Ray actors)."""
