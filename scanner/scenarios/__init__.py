"""The scenario runner: inject version drift into a test cluster and prove detection.

Modules, in the order a run uses them:

* ``definitions`` — typed scenario data (steps, waits, expectations); ``resources`` —
  the kinds a scenario may apply;
* ``loading`` — find scenario files (the packaged ``library/``, ``--dir`` folders),
  read them, validate against the scenario schema and cross-check, collecting every
  problem;
* ``targets`` — the cluster a run uses (kwok/kind provider, an existing context, or a
  given handle); ``builds`` — publishing image builds to its registry;
* ``running`` — the engine: namespaces, steps with timeouts, scans, cleanup, signals;
  ``steps`` and ``waits`` carry out each step; ``kubeapi`` talks to the apiserver;
* ``expectations`` — expected vs found for each scan;
* ``records`` — what happened; ``observers`` — who hears about it; ``terminal``,
  ``journal``, ``junit`` and ``outputs`` — what a run prints and writes;
* ``commands`` — ``driftscan scenario list`` / ``run`` behind the CLI.

The user guide is docs/scenarios.md.
"""
