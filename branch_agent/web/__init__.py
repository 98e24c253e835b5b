"""The counter UI and its JSON API, served by the branch agent."""
