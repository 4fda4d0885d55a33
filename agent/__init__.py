"""briefcut's spine: brief schema, settings, planners, agent graph, store, edits, assembly, batch and CLI."""

__version__ = "0.1.0"
