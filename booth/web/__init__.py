"""The booth page: served by the booth service itself, Chinese first, for a touch screen."""
