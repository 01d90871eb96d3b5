"""Office hours, Italian holidays and closures: is the line open now, and when does it open."""
