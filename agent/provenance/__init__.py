"""Provenance anyone can check: the invisible watermark, C2PA content credentials, verify and reproduce."""
