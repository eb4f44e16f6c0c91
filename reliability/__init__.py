"""Reliability and security campaigns (issue 7): load, crashes, faults, hostile input, access.

Each campaign is a module with ``run(engines, full=False, workdir=...) -> list[Result]``
that starts real servers (``trustledger serve`` in a subprocess) over fresh databases,
drives them over HTTP with real signed payloads, and checks afterwards with the audit
and direct SQL. ``python -m reliability.run`` runs them all and prints one table;
``python -m reliability.<campaign>`` runs one. Small counts by default (CI), the
issue's counts with ``--full``. Figures and commands: ``docs/reliability.md``.
"""
