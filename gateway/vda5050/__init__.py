"""The gateway as VDA 5050 master control (docs/vda5050.md); the codecs live in protocol.vda5050."""
