"""What every layer above the runtime may use: errors for a person, progress events and their
terminal rendering, configuration, folder locks and the version."""
