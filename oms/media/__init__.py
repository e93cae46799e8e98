"""Audio work with no database and no HTTP: probing, tags, the one-pass HLS ladder, loudness,
waveforms and artwork. The only room that imports ffmpeg and mutagen; see README.md.
"""
