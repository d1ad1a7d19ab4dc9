"""The scheduler's state in the database: APScheduler's job store, and per job the claim that keeps
it from running twice at once across instances and its last run (the DPO's jobs dashboard)."""
