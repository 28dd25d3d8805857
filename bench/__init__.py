"""warden's benchmark harness: warden against cfssl, side by side, in one run (``python -m bench``)."""
