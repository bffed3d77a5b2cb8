"""Synthetic 4D cardiac CT phantom with exact ground truth (anatomy, coronaries, motion, devices, CT)."""
