"""Guests that really run the user-data: process guests and network-namespace guests."""
