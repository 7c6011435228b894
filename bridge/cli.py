"""Placeholder replaced below."""
def add_commands(sub):
    pass
