"""Statistics for internal and external use: reports, open data, the public page."""
