"""The kinds of camera and microphone a counter can have, one module per family of kinds.

Each kind module declares its configuration section next to the function that builds its source;
``branch_agent.sources.registry`` lists them, and the configuration and the counter derive from it.
"""
