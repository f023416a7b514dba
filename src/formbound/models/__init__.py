"""Model sources behind one interface; :func:`load` routes a name to its source."""
