"""The assembly craft: chosen takes -> a delivered cut (timeline, captions, audio mix, stills, delivery)."""
