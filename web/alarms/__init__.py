"""Alarms: robot faults, e-stops, low batteries, lost robots, failed deliveries; staff ack them."""
