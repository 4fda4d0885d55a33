"""Text to media: video (diffusers DiTs, animatic), audio and voice backends behind small seams."""
