"""Load generators: each runs in a process of its own, so it never shares the measured core."""
