"""Looks that ship with postbay (data): print-film LUTs as ``.cube`` files and the script that made them.

Nothing here is code a recipe runs: the ``grade`` and ``lut`` steps find these files by name
(``look = "print-warm"``). ``make_looks.py`` regenerates them from their written-out maths, so a
look is reproducible rather than a download. Imports nothing from postbay.
"""
