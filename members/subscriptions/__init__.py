"""Paid membership (plans, subscriptions, their history and savings): models, services and selectors of the
members core. Benefits that belong to the catalogue (members-only rewards and prices, early access, the period
reward) are built by ``rewards`` on these selectors and on the hooks in :mod:`members.hooks`."""
