from tests.branch_agent.sources.conftest import gstreamer_rtsp, rtsp_camera  # noqa: F401
