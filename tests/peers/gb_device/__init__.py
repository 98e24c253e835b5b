"""A GB/T 28181 camera's media side for the tests: PS muxer, RTP packetiser, device simulator."""
