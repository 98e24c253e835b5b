"""Off-hours upload of finished clips to the center's archive."""
