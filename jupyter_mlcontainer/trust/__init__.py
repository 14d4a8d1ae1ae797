"""What the tool can say about an image it did not just build: which notebook and kernel made it,
whether that notebook has moved on since, and whether the tool built it at all."""
