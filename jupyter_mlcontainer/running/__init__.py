"""Talking to a started instance over HTTP: the client every front door uses and the wait for
its probes."""
