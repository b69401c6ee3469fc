"""Network sources: sockets in, canonical events out to the intake."""
