"""Figures drawn from arrays (no model import). One module per figure family, e.g. ``ogfr.viz.parsing``."""
