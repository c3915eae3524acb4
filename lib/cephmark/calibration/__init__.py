"""Ruler calibration: the p1/p2 cascade (coarse + crop refiner in one file, cascade.py), its
flags (flags.py: status + reasons), p1/p2 marks -> mm per pixel with a status (scale.py)."""
