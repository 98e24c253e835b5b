"""What branches and the center agree on over the wire: request signing and message shapes."""
