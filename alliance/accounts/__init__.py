"""Accounts and tenancy: agencies, teams, users and their roles."""
