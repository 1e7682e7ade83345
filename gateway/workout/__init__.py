"""Workouts: plan model and loader, the segment engine, the energy model."""
