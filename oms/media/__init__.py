"""Audio work with no database and no HTTP: probing, loudness, the HLS ladder, waveforms, artwork.
Owns ffmpeg and mutagen.

Filled in by the media pipeline issue; today it finds the ffmpeg binary the node uses.
"""
