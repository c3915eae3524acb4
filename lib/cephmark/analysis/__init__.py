"""Cephalometric analysis: the measurement table, its geometry, evaluation and the report page."""
