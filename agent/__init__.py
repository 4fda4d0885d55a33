"""briefcut's spine: brief schema, planners, agent graph, store, assembly and CLI."""

__version__ = "0.1.0"
