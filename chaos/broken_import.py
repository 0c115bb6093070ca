"""A module that cannot be imported: chaos/bad_inputs.py calls a function in it."""

raise RuntimeError("broken_import fails on import, on purpose")
