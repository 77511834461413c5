"""The site with three URLs that fail on purpose, for the error pages' tests only; never in
myproject: production has no URL that breaks on request."""
