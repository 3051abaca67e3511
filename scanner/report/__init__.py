"""The report model and its renderers.

``building.build`` makes a ``model.Report`` from findings and scores; ``json_format``
and ``terminal`` render it, ``html`` renders the self-contained HTML page (drawing with
``pictures`` and ``svg``), ``loading`` reads saved JSON back, and ``validation`` renders
a scenario run's index page. SARIF and JUnit renderers take the same model.
"""
