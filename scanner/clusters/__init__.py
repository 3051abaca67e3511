"""Throw-away test clusters for scenario runs and integration tests.

``base`` defines the provider interface and ``ClusterHandle``; ``kwok`` runs a real
control plane with KWOK fake nodes, a real registry and the image-pull emulator;
``kind`` drives kind with a local registry; ``providers`` picks one. Only ``cli`` and
``scenarios`` import this package.
"""
