"""Mail: the transport, transactional messages, suppression list (lists and campaigns grow here)."""
