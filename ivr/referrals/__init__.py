"""Referrals: the offices the line sends citizens to, and each time it does."""
