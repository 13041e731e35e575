"""Jobs: what a command runs. Build models by name, run a protocol, write the report.

:mod:`freshrec.evaluation` takes models and events and never builds by name nor draws; a job
does both for the command line, the demo and the cases: :func:`run_evaluation` (holdout
protocols), :func:`run_arena_job` (update strategies side by side) and
:func:`run_prequential_job` (test-then-train) return :class:`Results`, which writes
``results.json``, ``report.md`` and PNG plots, and prints as a rich table (:func:`rich_table`).

Examples
--------
>>> import tempfile
>>> from freshrec.data.synthetic import synthetic_stream
>>> from freshrec.jobs import run_evaluation
>>> data = synthetic_stream(n_users=60, n_items=40, n_events=1500, seed=0)
>>> results = run_evaluation(data, ["popular"], "temporal-user")
>>> [p.name for p in results.write(tempfile.mkdtemp())]
['results.json', 'report.md', 'comparison.png']
"""

from __future__ import annotations

from freshrec.jobs.arena import run_arena_job
from freshrec.jobs.arena_report import arena_results, write_arena
from freshrec.jobs.evaluate import run_evaluation
from freshrec.jobs.prequential import run_prequential_job, write_prequential
from freshrec.jobs.report import Results, machine_summary, rich_table

__all__ = [
    "Results",
    "arena_results",
    "machine_summary",
    "rich_table",
    "run_arena_job",
    "run_evaluation",
    "run_prequential_job",
    "write_arena",
    "write_prequential",
]
