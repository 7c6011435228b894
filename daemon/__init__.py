"""The service: hot folders, the job ledger, workers, the scheduler, systemd.

``watcher`` notices files and decides when one has arrived; ``ledger`` records every job
(SQLite, the single source of truth for the CLI and the API); ``executor`` runs each job in
its own process; ``schedule`` holds windows, timed batch runs and the scheduler's job store;
``daemon`` is the main loop tying them together; ``notify`` speaks the systemd protocol;
``units`` renders the systemd units in ``service/``; ``cli`` adds the commands.
"""
