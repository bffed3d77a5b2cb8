"""Users, roles, sessions, audit log and de-identification for the case store. See docs/security.md."""
