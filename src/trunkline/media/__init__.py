"""Audio: 20 ms frames of 16-bit PCM (8 or 16 kHz) and what is done with them.

- :mod:`trunkline.media.g711` — G.711 µ-law and A-law codecs (pure numpy).
- :mod:`trunkline.media.dtmf` — in-band DTMF detection, Goertzel (pure numpy).
- :mod:`trunkline.media.mixer` — the N-1 conference mixer (pure numpy).
- :mod:`trunkline.media.amd` — voicemail beep and human/machine detection (numpy, webrtcvad).
- :mod:`trunkline.media.tts` — text to speech: espeak-ng by default, cached, rendered off
  the event loop (the one module here that runs a process and awaits).
"""
