"""Campaigns: drafts, audiences (lists and saved segments), sandboxed rendering, dispatch through
the outbox with the per-message checks, unsubscribe headers, tracking with consent (issue 8)."""
