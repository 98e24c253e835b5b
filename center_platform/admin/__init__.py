"""What the system admin configures: business types, products, branches, counters, staff, users."""
