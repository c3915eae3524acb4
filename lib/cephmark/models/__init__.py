"""The network: HRNet backbone + SRPose head (`cldetection`), its design (`arch`), checkpoints
(`checkpoint`: load, save, export) and heads for new landmarks (`new_landmarks`).

Import the modules themselves (``from cephmark.models.checkpoint import load_model``); this file
imports nothing, so each stays as light as its own imports.
"""
