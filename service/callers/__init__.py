"""CRM callers: HubSpot workflow actions, Zendesk webhooks, and a generic signed webhook."""
