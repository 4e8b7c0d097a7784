"""The deploy rehearsal: see docs/REHEARSAL.md."""
