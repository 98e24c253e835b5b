"""How long each clip is kept: rules, events, disputes and the daily expiry."""
