"""The outside world: the HTTP API and dashboard, the submit client, NLE scripts, plugins.

``postbay.bridge`` is what talks to people and other programs: the FastAPI server the daemon
starts (``api``, ``static/``; ``review``: the output, logs and running config for the
dashboard), ``doctor`` (is this machine ready?), the client behind ``postbay submit`` (``client``), DaVinci
Resolve's scripts (``resolve/``) and the plugin documentation's example. It may import the core,
``timeline`` and ``daemon`` (the ledger and the settings it reads); nothing below imports it.
"""
