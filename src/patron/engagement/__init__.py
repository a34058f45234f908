"""Badges, challenges and streaks: members' progress, their rewards, and how they read it."""
