"""Open Music Streaming: a self-hostable ATProto music node for artist collectives."""

__version__ = "0.1.0.dev0"
__all__ = ["__version__"]
