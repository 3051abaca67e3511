"""The report model and its renderers.

``building.build`` makes a ``model.Report`` from findings and scores; ``json_format``
and ``terminal`` render it (HTML, SARIF and JUnit renderers take the same model).
"""
