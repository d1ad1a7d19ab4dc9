"""Data-subject requests: intake, identity, the 30-day deadline, the DPO dashboard, fulfilment."""
