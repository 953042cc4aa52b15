"""HTTP routes: thin translations from HTTP to service calls."""
