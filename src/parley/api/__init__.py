"""HTTP only: parse, authorize, call the service, shape the response."""
