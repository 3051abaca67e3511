"""driftscan: finds container version drift in Kubernetes workloads.

The package flows one way: ``sources`` build a ``model.Snapshot``, ``graph`` links its
objects, ``detectors`` turn it into findings, ``scoring`` grades each workload and
``report`` renders the result. ``clusters`` and ``scenarios`` start test clusters and
inject drift on purpose to prove detection.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
