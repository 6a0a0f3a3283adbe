"""Audio processing on 8 kHz 16-bit mono frames, pure numpy (no sockets, no clock).

- :mod:`trunkline.media.g711` — G.711 µ-law and A-law codecs.
- :mod:`trunkline.media.dtmf` — in-band DTMF detection (Goertzel).
"""
