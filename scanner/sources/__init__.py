"""Sources turn the outside world (a live apiserver, ``kubectl -o json`` dumps) into a Snapshot.

Only modules in this package read raw Kubernetes dicts or talk to a cluster; callers use
:func:`scanner.sources.loading.load`.
"""
