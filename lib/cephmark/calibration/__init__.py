"""Ruler calibration: p1/p2 marks -> mm per pixel with a status (scale.py)."""
