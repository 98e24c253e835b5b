"""A counter's sale: the form and its checks, the camera sources, the recording session."""
