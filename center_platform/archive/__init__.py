"""What compliance staff do with the clips: search, list export, evidence export."""
