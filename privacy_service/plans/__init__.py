"""Plans: the plan catalogue, subscriptions, the quota ledger, VAT, invoices, payment methods,
sending approval and IP pools (the FAQ's commercial rules)."""
