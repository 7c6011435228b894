"""systemd unit templates (data): rendered by ``postbay service install``."""
