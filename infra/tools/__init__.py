"""Developer tools that run only on a laptop: ``make openapi`` and ``make test``'s system check."""
