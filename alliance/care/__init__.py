"""Care records: clients, episodes, sessions, administrations, alerts and the audit trail."""
