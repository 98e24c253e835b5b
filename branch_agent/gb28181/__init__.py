"""GB/T 28181 cameras: the branch agent is the platform (SIP server) a camera registers to.

Modules are small and single-purpose: ``sip_message`` (wire format), ``sip_digest``
(authentication), ``gb_ids`` (20-digit identities), ``manscdp`` (XML bodies), ``devices``
(the device table), ``sip_transport`` (UDP/TCP sockets) and ``registrar`` (REGISTER and
keepalive handling).
"""
