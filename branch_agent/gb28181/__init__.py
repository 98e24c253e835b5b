"""GB/T 28181 cameras: the branch agent is the platform (SIP server) a camera registers to.

Modules are small and single-purpose: ``sip_message`` (wire format), ``sip_digest``
(authentication), ``gb_ids`` (20-digit identities), ``manscdp`` (XML bodies), ``devices``
(the device table), ``sip_transport`` (UDP/TCP sockets) and ``registrar`` (REGISTER and
keepalive handling). What the platform asks of cameras: ``sip_client`` (requests we send, with
UDP retransmission), ``queries`` (Catalog, DeviceInfo, DeviceStatus), ``sdp`` (GB/T 28181 SDP),
``play`` (live-video INVITE/ACK/BYE) and ``platform`` (``GbPlatform``, all of it on one port,
plus a typed snapshot of devices, channels and sessions). The agent runs one platform on its
own loop thread (``service``); ``branch_agent.sources.gb_camera`` plays a channel as a camera.
"""
