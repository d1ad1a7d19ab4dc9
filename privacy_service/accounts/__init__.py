"""Accounts: organisations, their users, roles, sign-up, login and the profile page."""
