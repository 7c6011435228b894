"""The service: hot folders, the job ledger, workers, the scheduler, systemd.

``watcher`` notices files and decides when one has arrived (``arrival``: whether a container
is whole, what a hot folder takes, sidecars); ``ledger`` records every job
(SQLite, the single source of truth for the CLI and the API); ``executor`` runs each job in
its own process; ``schedule`` holds windows, timed batch runs and the scheduler's job store;
``daemon`` is the main loop tying them together; ``notify`` speaks the systemd protocol;
``webhooks`` posts job endings to ``[[notify]]`` URLs; ``state`` records the running daemon
for commands run from any folder;
``units`` renders the systemd units in ``service/``; ``settings`` holds the config helpers
(ledger path, embedded default folders, checks) that the bridge reads too; ``cli`` adds the
commands. It imports the core, ``postbay.timeline`` and ``postbay.processors``, never the
bridge: the HTTP API is handed to :class:`~postbay.daemon.daemon.Daemon` as a service by the
command-line shell.
"""
