"""One station at run time: the pure core, and the async shell around it."""
