"""Audio: 20 ms frames of 16-bit PCM (8 or 16 kHz) and what is done with them.

Pure (numpy):

- :mod:`trunkline.media.g711` — G.711 µ-law and A-law codecs.
- :mod:`trunkline.media.dtmf` — in-band DTMF detection, Goertzel.
- :mod:`trunkline.media.mixer` — the N-1 conference mixer.
- :mod:`trunkline.media.amd` — voicemail beep and human/machine detection (and webrtcvad).
- :mod:`trunkline.media.port` — the contract between the media pump and a leg's audio.
- :mod:`trunkline.media.audio` — decoding WAV/MP3/FLAC/OGG to 8 or 16 kHz.
- :mod:`trunkline.media.recording` — recording writers (WAV/MP3), leg taps, beep, silence.
- :mod:`trunkline.media.split` — split recordings, a channel per participant (up to 32).

The asyncio shell:

- :mod:`trunkline.media.rtpleg` — one RTP leg: its UDP socket, jitter buffer, RFC 4733, RTCP.
- :mod:`trunkline.media.pump` — the one 20 ms media pump per process (uvloop).
- :mod:`trunkline.media.conference` — whole-conversation recordings from the pump.
- :mod:`trunkline.media.tts` — text to speech: espeak-ng, cached, rendered off the loop.
- :mod:`trunkline.media.piper` — the neural voice (piper), in a worker process.
- :mod:`trunkline.media.asr` — offline speech recognition (pocketsphinx).
"""
