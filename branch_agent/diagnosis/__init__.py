"""Live picture diagnosis of the counters' cameras: one frame per camera every few minutes and on demand."""
