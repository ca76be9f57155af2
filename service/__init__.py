"""`tierwise serve`: the HTTP service that CRMs call at the moment a decision matters."""
