"""OAuth 2 client-credentials for internal services and customers' integrations (Authlib)."""
