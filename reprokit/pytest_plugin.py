"""pytest plugin: collect cases/<ID>/case.yaml as test items (filled in by the cases work)."""
