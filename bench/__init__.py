"""Benchmarks: Parley under wrk load, side by side with a no-storage baseline (`python -m bench`)."""
