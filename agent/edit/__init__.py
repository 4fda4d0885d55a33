"""The user's edit path: a message becomes typed edit operations applied to a finished run."""
